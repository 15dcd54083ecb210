// sluice-bench/log_lines.hpp: the input of the cli_* JSON scenarios, a seeded JSON-lines application
// log, and the text of any projection of its lines (what a checked output must hold).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::bench {

/// The six fields of a log line, in the order the generator writes them.
enum class log_field : std::uint8_t { id, ts, level, host, msg, latency_ms };

/// The name of `f` in the JSON objects ("latency_ms").
std::string_view name(log_field f) noexcept;

/// One generated line, all that is needed to write it again; its id is its index + 1 in
/// `log_contents::records`.
struct log_record {
  std::uint32_t second = 0;      ///< `ts` is this many seconds into 2026-11-24 (UTC)
  std::uint32_t number = 0;      ///< the number inside the message
  std::uint16_t latency_ms = 0;  ///< the `latency_ms` field
  std::uint8_t level = 0;        ///< index into the generator's levels
  std::uint8_t message = 0;      ///< index into that level's message templates
  std::uint8_t host = 0;         ///< `host` is "web-<host>"
};

/// What write_log wrote.
struct log_contents {
  std::vector<log_record> records;  ///< line id N is records[N - 1]
  std::uint64_t bytes = 0;          ///< the size of the file
};

/// Writes `lines` JSON log lines to `path`, ids 1 to `lines`, the same bytes for the same `seed`,
/// about 100 bytes each (newline included):
/// `{"id":N,"ts":1795521600,"level":L,"host":"web-N","msg":"...","latency_ms":N}`: about 10%
/// error, 15% warn, 45% info and 30% debug, `ts` in Unix seconds spread over 2026-11-24 (UTC),
/// one message template with escaped quotes and one with non-ASCII text. Throws
/// std::runtime_error if the file cannot be written.
log_contents write_log(const std::filesystem::path& path, std::int64_t lines, std::uint64_t seed);

/// The level name of `r` ("error").
std::string_view level_name(const log_record& r) noexcept;

/// How rendered JSON is spaced: none (as the generator, jq -c and gojq -c write it), or a space
/// after each `:` and `,` between members (as Miller's JSON-lines writer does).
enum class json_spacing : std::uint8_t { compact, spaced };

/// Line `id` (record `r`) reduced to `fields`, in that order, as JSON text with no newline,
/// strings escaped exactly as in the file: render(r, id, every field) is the line itself.
std::string render(const log_record& r, std::int64_t id, std::span<const log_field> fields,
                   json_spacing spacing = json_spacing::compact);

}  // namespace sluice::bench
