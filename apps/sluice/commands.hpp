// apps/sluice/commands.hpp: the sluice commands, each testable on its own.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace sluice::app {

/// Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

/// Blocks SIGINT, SIGTERM and SIGUSR1 in the calling thread: main's first call, so that every
/// thread inherits the mask and `run` takes the signals in one thread of its own (run.cpp).
void block_stop_signals() noexcept;
/// Undoes block_stop_signals, for the commands that do not drain: SIGINT ends them as usual.
void unblock_stop_signals() noexcept;

int run_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int check_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int graph_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int stages_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int schema_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int test_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int top_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace sluice::app
