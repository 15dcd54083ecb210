// apps/sluice/usage.hpp: what `sluice help` and `sluice COMMAND --help` print.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

namespace sluice::app {

/// The whole usage text: every command, the exit codes.
std::string usage();

/// One command's usage (its synopsis and what it does, its flags); "" for an unknown command.
std::string command_usage(std::string_view command);

/// Prints `command`'s usage to `out`; returns exit_ok (`sluice COMMAND --help`).
int print_help(std::string_view command, std::ostream& out);

/// "sluice <version>", from meson's project version.
std::string version_line();

}  // namespace sluice::app
