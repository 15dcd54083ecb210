// lib/observe/json_log.hpp: `--log-format json`, log records as JSON lines.
#pragma once

#include <string>

#include <sluice/process/log.hpp>

namespace sluice::observe {

/// One record as a JSON object on one line (no newline): {"time": RFC 3339 UTC with milliseconds,
/// "level", "pipeline", "stage" (the record's source; null when it has none), "message"}.
std::string json_log_line(const log_record& r, const std::string& pipeline);

/// A sink writing json_log_line()s to standard error, one write(2) per line (lines from several
/// threads never interleave). Thread-safe.
log_sink json_log_sink(std::string pipeline);

}  // namespace sluice::observe
