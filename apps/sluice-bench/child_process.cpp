// sluice-bench/child_process.cpp: posix_spawn, a pidfd to wait on, wait4 to reap.
#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace sluice::bench {

namespace {

using clock = std::chrono::steady_clock;

/// How much of a failed child's standard error goes into the exception's message.
constexpr std::size_t stderr_tail_bytes = 600;

/// `text` as the NULL-terminated pointer array exec wants (pointing into `text`).
std::vector<char*> pointers(std::vector<std::string>& text) {
  std::vector<char*> p;
  for (std::string& s : text) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

/// The spawn attributes and file actions for `spec`, destroyed with this object.
class spawn_setup {
 public:
  explicit spawn_setup(const child_spec& spec) {
    posix_spawn_file_actions_init(&actions_);
    posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions_, 1, spec.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions_, 2, spec.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    // The child starts with default signal dispositions and an empty mask, whatever ours are.
    posix_spawnattr_init(&attr_);
    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr_, &none);
    posix_spawnattr_setsigdefault(&attr_, &all);
    posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~spawn_setup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  spawn_setup(const spawn_setup&) = delete;
  spawn_setup& operator=(const spawn_setup&) = delete;

  const posix_spawn_file_actions_t* actions() const noexcept { return &actions_; }
  const posix_spawnattr_t* attr() const noexcept { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

/// Starts `spec` and returns the child's pid; throws if it cannot be started.
pid_t spawn(const child_spec& spec) {
  const spawn_setup setup(spec);
  std::vector<std::string> argv{spec.program.string()};
  argv.insert(argv.end(), spec.args.begin(), spec.args.end());
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, spec.program.c_str(), setup.actions(), setup.attr(),
                               pointers(argv).data(), environ);
  if (rc != 0) throw std::runtime_error("cannot run " + spec.program.string() + ": " + std::strerror(rc));
  return pid;
}

/// How a reaped child ended and the CPU time it used.
struct reaped {
  int status = 0;
  double cpu_seconds = 0;
};

double seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; }

/// Reaps child `pid`, blocking until it has ended.
reaped reap(pid_t pid) {
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  return {status, seconds(usage.ru_utime) + seconds(usage.ru_stime)};
}

/// A pidfd for `pid`, or -1 with errno set. Through syscall(): glibc 2.36's <sys/pidfd.h> declares
/// pidfd_open without C linkage, so C++ cannot link against it.
int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

/// Waits until child `pid` has ended (not reaping it) or `deadline` has passed; true if it ended.
bool await_end(pid_t pid, clock::time_point deadline) {
  const int fd = open_pidfd(pid);
  if (fd < 0) {
    const int error = errno;
    ::kill(pid, SIGKILL);
    reap(pid);
    throw std::runtime_error(std::string("pidfd_open: ") + std::strerror(error));
  }
  pollfd watch{fd, POLLIN, 0};
  int ready = 0;
  do {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
    ready = ::poll(&watch, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
  } while (ready < 0 && errno == EINTR);
  ::close(fd);
  return ready > 0;
}

/// "exit 1", "killed by signal 9".
std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  return "killed by signal " + std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/// The last `stderr_tail_bytes` of the file at `p`, or "" if it cannot be read.
std::string tail(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() <= stderr_tail_bytes ? all : "..." + all.substr(all.size() - stderr_tail_bytes);
}

[[noreturn]] void fail(const child_spec& spec, const std::string& how) {
  std::string message = spec.program.string() + " failed (" + how + ")";
  if (const std::string err = tail(spec.stderr_path); !err.empty()) message += "; its stderr:\n" + err;
  throw std::runtime_error(message);
}

}  // namespace

child_times run_timed(const child_spec& spec, std::chrono::seconds deadline) {
  const clock::time_point start = clock::now();
  const pid_t pid = spawn(spec);
  const bool ended = await_end(pid, start + deadline);
  const std::chrono::duration<double> took = clock::now() - start;
  if (!ended) ::kill(pid, SIGKILL);
  const reaped child = reap(pid);
  if (!ended) fail(spec, "still running after " + std::to_string(deadline.count()) + " s, killed");
  if (!WIFEXITED(child.status) || WEXITSTATUS(child.status) != 0) fail(spec, describe_status(child.status));
  return {took.count(), child.cpu_seconds};
}

std::filesystem::path find_program(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / name;
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

}  // namespace sluice::bench
