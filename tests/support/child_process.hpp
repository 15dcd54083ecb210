// tests/support/child_process.hpp: runs a program as a child process the caller controls; the
// one child-process runner of the integration tests and of sluice-bench (which times children
// with it: wall clock around it, CPU time from the reaping wait4's rusage).
//
// The integration tests drive the real `sluice` binary. A child gets exactly the environment,
// working directory, standard input and arguments the test gives it; its standard output and
// error go to files the test reads afterwards. Waiting is always bounded: every wait takes a
// deadline, and a child still running when its handle is destroyed is killed and reaped, so a
// hung child fails its test instead of hanging the suite.
//
// Design: posix_spawn (no fork of a threaded test process); one waiter thread per child blocks in
// wait4 and fulfils a future, so waiting with a deadline is `future::wait_for`, never a sleep.
// Nothing here is shared between threads except through that future.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sluice::testing {

using namespace std::chrono_literals;
using test_clock = std::chrono::steady_clock;

/// How a child ended.
struct exit_status {
  bool exited = false;  ///< ended by exit(); else killed by `signal`
  int code = -1;        ///< the exit code when `exited`
  int signal = 0;       ///< the terminating signal otherwise

  [[nodiscard]] std::string to_string() const {
    return exited ? "exit " + std::to_string(code) : "killed by signal " + std::to_string(signal);
  }
};

/// What to start.
struct child_spec {
  std::filesystem::path program;
  std::vector<std::string> args;              ///< after argv[0]
  std::map<std::string, std::string> env;     ///< the whole environment
  std::filesystem::path cwd;                  ///< empty: the test's own
  /// Standard input. Not a FIFO: posix_spawn opens it before exec while the parent waits, so a
  /// FIFO nobody writes to yet would hang both; give a pipe's read end as stdin_fd instead.
  std::filesystem::path stdin_file = "/dev/null";
  int stdin_fd = -1;                          ///< if >= 0, standard input instead of stdin_file
  std::filesystem::path stdout_file;          ///< created or truncated
  std::filesystem::path stderr_file;
};

/// The whole content of a file ("" if it cannot be read).
inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A running (or finished) child. Move-only; the destructor kills and reaps a child still running.
class child_process {
 public:
  /// Starts `spec`; throws std::runtime_error if it cannot be spawned.
  explicit child_process(child_spec spec) : spec_(std::move(spec)) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (spec_.stdin_fd >= 0) posix_spawn_file_actions_adddup2(&actions, spec_.stdin_fd, 0);
    else posix_spawn_file_actions_addopen(&actions, 0, spec_.stdin_file.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, spec_.stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, spec_.stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!spec_.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec_.cwd.c_str());

    // The child starts with default signal dispositions and an empty mask, whatever the test's.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> argv_text{spec_.program.string()};
    argv_text.insert(argv_text.end(), spec_.args.begin(), spec_.args.end());
    std::vector<std::string> env_text;
    for (auto& [k, v] : spec_.env) env_text.push_back(k + "=" + v);
    const int rc = ::posix_spawn(&pid_, spec_.program.c_str(), &actions, &attr, pointers(argv_text).data(),
                                 pointers(env_text).data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::runtime_error("cannot spawn " + spec_.program.string() + ": " + std::strerror(rc));
    status_ = std::async(std::launch::async, [pid = pid_] {
      reaped r;
      rusage usage{};
      while (::wait4(pid, &r.status, 0, &usage) < 0 && errno == EINTR) {
      }
      r.cpu_seconds = seconds(usage.ru_utime) + seconds(usage.ru_stime);
      return r;
    });
  }

  child_process(child_process&&) = default;
  child_process& operator=(child_process&&) = delete;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  ~child_process() {
    if (!status_.valid()) return;
    if (status_.wait_for(0s) != std::future_status::ready) ::kill(pid_, SIGKILL);
    status_.wait();
  }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// Sends `sig` to the child (a no-op once it has been reaped).
  void signal(int sig) {
    if (!ended()) ::kill(pid_, sig);
  }

  /// True once the child has ended.
  [[nodiscard]] bool ended() const { return ended_ || status_.wait_for(0s) == std::future_status::ready; }

  /// How it ended, once it has, within `timeout`; nullopt if it is still running then.
  std::optional<exit_status> wait_for(test_clock::duration timeout) {
    if (ended_) return ended_;
    if (status_.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    const reaped r = status_.get();
    const int s = r.status;
    cpu_seconds_ = r.cpu_seconds;
    status_ = {};
    ended_ = exit_status{WIFEXITED(s), WIFEXITED(s) ? WEXITSTATUS(s) : -1, WIFSIGNALED(s) ? WTERMSIG(s) : 0};
    return ended_;
  }
  /// wait_for, after which a child still running is killed (and reported as killed).
  exit_status wait_or_kill(test_clock::duration timeout) {
    if (ended_) return *ended_;
    if (auto s = wait_for(timeout)) return *s;
    ::kill(pid_, SIGKILL);
    auto s = wait_for(24h);
    timed_out_ = true;
    return *s;
  }
  /// True if wait_or_kill had to kill it.
  [[nodiscard]] bool timed_out() const noexcept { return timed_out_; }
  /// User + system time of the child (all its threads), once a wait has seen it end.
  [[nodiscard]] double cpu_seconds() const noexcept { return cpu_seconds_; }

  /// Polls `condition` (something observable from outside: a file's size, a line in a log) until
  /// it holds, the child ends, or `deadline`. Between polls it waits on the child's exit, so a
  /// child that dies is noticed at once. Returns whether the condition held.
  template <class Condition>
  bool await(Condition condition, test_clock::time_point deadline) {
    for (;;) {
      if (condition()) return true;
      if (ended_ || status_.wait_for(5ms) == std::future_status::ready) return condition();
      if (test_clock::now() >= deadline) return false;
    }
  }

  [[nodiscard]] std::string out() const { return read_file(spec_.stdout_file); }
  [[nodiscard]] std::string err() const { return read_file(spec_.stderr_file); }

 private:
  static std::vector<char*> pointers(std::vector<std::string>& text) {
    std::vector<char*> p;
    for (auto& s : text) p.push_back(s.data());
    p.push_back(nullptr);
    return p;
  }

  struct reaped {
    int status = 0;
    double cpu_seconds = 0;
  };
  static double seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; }

  child_spec spec_;
  pid_t pid_ = -1;
  std::future<reaped> status_;
  std::optional<exit_status> ended_;
  bool timed_out_ = false;
  double cpu_seconds_ = 0;
};

/// CPU time (user + system) a live process has used so far, from /proc/PID/stat; nullopt if it
/// cannot be read.
inline std::optional<std::chrono::duration<double>> cpu_time(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  // After the name: state(3) ppid(4) ... utime(14) stime(15).
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return std::chrono::duration<double>(static_cast<double>(utime + stime) / tick);
}

/// A `Vm...:` field of /proc/PID/status in kB (VmHWM: the peak resident set size); nullopt if it
/// cannot be read.
inline std::optional<std::size_t> status_kb(pid_t pid, const std::string& field) {
  std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return static_cast<std::size_t>(std::stoull(line.substr(field.size() + 1)));
  }
  return std::nullopt;
}

}  // namespace sluice::testing
