// sluice-bench/log_lines.hpp: cli_jq's input, a JSON-lines application log, and the check of what
// `select(.level == "error") | {id, msg}` made of it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace sluice::bench {

/// The `{id, msg}` of every line at level "error", by ascending id: what the filter must keep.
using error_lines = std::vector<std::pair<std::int64_t, std::string>>;

/// Writes `lines` JSON log lines to `path`, ids 1 to `lines`, the same bytes for the same `seed`:
/// `{"id":N,"ts":"2026-11-24T10:00:00Z","level":L,"msg":"...","host":"web-N","latency_ms":N}`,
/// about 10% error, 15% warn, 45% info and 30% debug, timestamps spread over one day. Returns the
/// error lines; throws std::runtime_error if the file cannot be written.
error_lines write_log(const std::filesystem::path& path, std::int64_t lines, std::uint64_t seed);

/// Checks that `path` holds exactly `expected`, one JSON object `{"id", "msg"}` per line,
/// in any order; throws std::runtime_error naming `system` and the first difference otherwise.
void check_filtered(const std::filesystem::path& path, const error_lines& expected, const std::string& system);

}  // namespace sluice::bench
