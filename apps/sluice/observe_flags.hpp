// apps/sluice/observe_flags.hpp: `sluice run`'s observability flags and the settings a container
// gives through the environment.
#pragma once

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "options.hpp"

namespace sluice::app {

/// --stall-timeout: seconds without progress while work waits before a stage is named stalled.
inline constexpr double default_stall_timeout_s = 30;
inline constexpr double min_stall_timeout_s = 0.2;
inline constexpr double max_stall_timeout_s = 86400;

struct observe_options {
  std::optional<std::string> http;  ///< --http HOST:PORT (SLUICE_HTTP)
  bool json_logs = false;           ///< --log-format json (SLUICE_LOG_FORMAT)
  std::chrono::milliseconds stall_timeout{static_cast<long long>(default_stall_timeout_s * 1000)};  ///< (SLUICE_STALL_TIMEOUT)
};

/// Takes --http, --log-format and --stall-timeout out of `args` (leaving the rest for
/// parse_options), their defaults coming from SLUICE_HTTP, SLUICE_LOG_FORMAT and
/// SLUICE_STALL_TIMEOUT; and, unless `args` give them, adds --drain-timeout from
/// SLUICE_DRAIN_TIMEOUT and --threads from SLUICE_THREADS (checked as the flags are). A flag wins
/// over its variable. Prints the problem (naming the flag or the variable) and returns nullopt on
/// bad usage.
std::optional<observe_options> take_observe_options(std::vector<std::string>& args, std::ostream& err);

}  // namespace sluice::app
