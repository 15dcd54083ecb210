// sluice-bench/output_check.hpp: checks that a system's output file holds exactly the events a
// scenario expects of the generated log (log_lines.hpp), whatever their order and formatting.
//
// Each output line must be a JSON object naming the `id` of a line the scenario keeps, equal as a
// JSON value to that line reduced to the scenario's fields, and every kept line must appear once.
// Order is free (copies running in parallel interleave their outputs), and so are key order and
// spacing (gojq and sluice sort keys, Miller puts spaces after colons and commas): a line that is
// byte for byte the expected text, compact in the file's key order or sorted, or spaced in the
// file's order, is taken as is; any other is parsed and compared as a value, so the check stays
// fast without being fooled by formatting.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "log_lines.hpp"

namespace sluice::bench {

/// What a scenario's output must hold.
struct expected_output {
  std::vector<log_field> fields;  ///< each kept line reduced to these, in the file's order
  /// Whether the scenario keeps a line; unset: every line.
  std::function<bool(const log_record&)> keeps = {};
};

/// Checks that `path` holds `want` of `log`, one compact or spaced JSON object per line, in any
/// order; throws std::runtime_error naming `system`, the output file and the first difference (a
/// line that is not JSON, an unexpected or duplicated id, a wrong value, a missing line).
void check_output(const std::filesystem::path& path, const log_contents& log, const expected_output& want,
                  const std::string& system);

}  // namespace sluice::bench
