// apps/sluice/options.hpp: the command line options the pipeline commands share.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <sluice/pipeline/model.hpp>
#include <sluice/pipeline/registry.hpp>

namespace sluice::app {

struct common_options {
  std::string file;                    ///< the pipeline file
  std::vector<std::string> overrides;  ///< --set path=value
  std::vector<std::string> plugins;    ///< --plugin lib.so
  bool stats = false;                  ///< --stats
  bool json_output = false;            ///< --json
  std::string format = "dot";          ///< --format
  unsigned threads = 0;                ///< --threads
};

/// Parses `args` (after the command name); which flags are allowed depends on the command. Prints
/// the problem to `err` and returns nullopt on bad usage.
std::optional<common_options> parse_options(const std::vector<std::string>& args, bool needs_file,
                                            const std::vector<std::string>& allowed, std::ostream& err);

/// The built-in stage types plus those the plugins register; false (after printing why) if a
/// plugin cannot be loaded.
bool fill_registry(pipeline::registry& r, const std::vector<std::string>& plugins, std::ostream& err);

/// Loads the pipeline, printing every diagnostic to `err`.
std::optional<pipeline::pipeline_spec> load_or_report(const common_options& o, const pipeline::registry& r,
                                                      std::ostream& err);

}  // namespace sluice::app
