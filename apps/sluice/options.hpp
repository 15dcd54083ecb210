// apps/sluice/options.hpp: the command line options the pipeline commands share.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/pipeline/model.hpp>
#include <sluice/pipeline/registry.hpp>

namespace sluice::app {

/// The range of an integer flag, checked by parse_options (a usage error names the flag and it).
struct flag_range {
  long long minimum;
  long long maximum;
};

/// --threads: scheduler threads. oneTBB asserts on 0 or a negative count, and thousands of threads
/// only cost memory and switches.
inline constexpr flag_range threads_range{1, 256};

/// --drain-timeout: seconds a drain (SIGINT/SIGTERM) may take before what still runs is stopped and
/// named (exit 1); 0: no deadline. Default 60, as Vector's graceful-shutdown limit; a day at most.
inline constexpr flag_range drain_timeout_range{0, 86400};
inline constexpr long long default_drain_timeout_s = 60;

struct common_options {
  std::string file;                    ///< the pipeline file
  std::vector<std::string> overrides;  ///< --set path=value
  std::vector<std::string> plugins;    ///< --plugin lib.so
  bool stats = false;                  ///< --stats
  bool json_output = false;            ///< --json
  std::string format = "dot";          ///< --format
  unsigned threads = 0;                ///< --threads (0: not given, one per core)
  long long drain_timeout_s = default_drain_timeout_s;  ///< --drain-timeout (0: none)
  bool help = false;                   ///< --help or -h: print the command's usage, do nothing else
};

/// Parses `args` (after the command name); which flags are allowed depends on the command (--help
/// and -h always are). Prints the problem to `err` and returns nullopt on bad usage.
std::optional<common_options> parse_options(std::string_view command, const std::vector<std::string>& args, bool needs_file,
                                            const std::vector<std::string>& allowed, std::ostream& err);

/// The built-in stage types plus those the plugins register; false (after printing why) if a
/// plugin cannot be loaded.
bool fill_registry(pipeline::registry& r, const std::vector<std::string>& plugins, std::ostream& err);

/// Loads the pipeline, printing every diagnostic to `err`.
std::optional<pipeline::pipeline_spec> load_or_report(const common_options& o, const pipeline::registry& r,
                                                      std::ostream& err);

}  // namespace sluice::app
