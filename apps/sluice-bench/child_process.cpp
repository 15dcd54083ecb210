// sluice-bench/child_process.cpp: timed runs through the test suite's child-process runner
// (tests/support/child_process.hpp: posix_spawn, a waiter thread reaping with wait4).
#include "child_process.hpp"

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <stdexcept>

#include "../../tests/support/child_process.hpp"

extern char** environ;

namespace sluice::bench {

namespace {

using clock = std::chrono::steady_clock;

/// How much of a failed child's standard error goes into the exception's message.
constexpr std::size_t stderr_tail_bytes = 600;

/// This process's environment, as the runner takes it.
std::map<std::string, std::string> inherited_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

[[noreturn]] void fail(const child_spec& spec, const std::string& how) {
  std::string message = spec.program.string() + " failed (" + how + ")";
  std::string err = testing::read_file(spec.stderr_path);
  if (err.size() > stderr_tail_bytes) err = "..." + err.substr(err.size() - stderr_tail_bytes);
  if (!err.empty()) message += "; its stderr:\n" + err;
  throw std::runtime_error(message);
}

}  // namespace

child_times run_timed(const child_spec& spec, std::chrono::seconds deadline) {
  testing::child_spec run;
  run.program = spec.program;
  run.args = spec.args;
  run.env = inherited_environment();
  run.stdout_file = spec.stdout_path;
  run.stderr_file = spec.stderr_path;
  const clock::time_point start = clock::now();
  std::optional<testing::child_process> child;
  try {
    child.emplace(run);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("cannot run ") + e.what());
  }
  const testing::exit_status status = child->wait_or_kill(deadline);
  const std::chrono::duration<double> took = clock::now() - start;
  if (child->timed_out()) fail(spec, "still running after " + std::to_string(deadline.count()) + " s, killed");
  if (!status.exited || status.code != 0) fail(spec, status.to_string());
  return {took.count(), child->cpu_seconds()};
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
