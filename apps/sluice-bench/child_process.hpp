// sluice-bench/child_process.hpp: runs a program as a child process and times it: wall clock from
// spawn to exit, and the CPU time the child spent.
//
// Design: the integration tests' runner (tests/support/child_process.hpp: posix_spawn, standard
// input from /dev/null, output streams in files, a waiter thread reaping with wait4): the wait has
// a deadline, so a hung child fails its run (and is killed) instead of hanging the benchmark, and
// wait4's rusage holds the user and system time of all the child's threads (and of any children it
// waited for), which a pair of wall-clock readings cannot tell.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::bench {

/// A program to run and where its output goes.
struct child_spec {
  std::filesystem::path program;
  std::vector<std::string> args;                   ///< after argv[0]
  std::filesystem::path stdout_path = "/dev/null";  ///< created or truncated
  std::filesystem::path stderr_path = "/dev/null";  ///< created or truncated
};

/// What one child run cost.
struct child_times {
  double wall_seconds = 0;  ///< from just before the spawn to the moment the child had exited
  double cpu_seconds = 0;   ///< user + system time of the child, all its threads, from wait4
};

/// Runs `spec` in this process's environment and returns its wall and CPU times. Throws
/// std::runtime_error if it cannot be started, is still running after `deadline` (it is then
/// killed and reaped) or does not exit with status 0; the message names the program, says how it
/// ended and quotes the end of its standard error. Thread-safe.
child_times run_timed(const child_spec& spec, std::chrono::seconds deadline);

/// The first regular, executable file called `name` in the directories of $PATH; empty if none.
std::filesystem::path find_program(std::string_view name);

}  // namespace sluice::bench
