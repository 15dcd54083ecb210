// sluice-bench/log_lines.cpp: a seeded log generator, and the text of its lines and projections.
//
// The generator draws from std::mt19937_64, whose output sequence the standard fixes, and reduces
// it with `%` rather than a std distribution (whose algorithm is left to the library), so the file
// is the same on every machine. Messages come from a few short templates per level with a number
// in them (the lines are about 100 bytes, the size the JSON-events issue measures); one warning
// holds escaped quotes and one info message non-ASCII text, so readers must really parse strings.
// A line is written by render(), the same function the output checks use, so what the file holds
// and what a check expects cannot drift apart.
#include "log_lines.hpp"

#include <array>
#include <fstream>
#include <random>
#include <stdexcept>

namespace sluice::bench {

namespace {

/// A level and its message templates, as they appear between the quotes of a JSON string; `#`
/// stands for a number drawn per line.
struct level_kind {
  std::string_view name;
  unsigned percent;
  std::array<std::string_view, 4> messages;
};

constexpr std::array<level_kind, 4> levels{{
    {"error", 10, {"timeout after # ms", "db-# refused", "payment # declined", "panic in /orders/#"}},
    {"warn", 15, {"slow query \\\"q#\\\"", "retry # of 3", "cache miss rate #", "cert expires in # d"}},
    // "Z\xc3\xbcrich" is "Zürich" in UTF-8, spelt out so the bytes do not depend on the compiler.
    {"info", 45, {"GET /users/# 200", "user # logged in", "job # done", "login # from Z\xc3\xbcrich"}},
    {"debug", 30, {"cache hit user:#", "span # closed", "pool size #", "reload rev #"}},
}};

constexpr std::array<std::string_view, 6> field_names{"id", "ts", "level", "host", "msg", "latency_ms"};
constexpr std::array<log_field, 6> every_field{log_field::id,   log_field::ts,  log_field::level,
                                               log_field::host, log_field::msg, log_field::latency_ms};

constexpr std::uint64_t hosts = 8;
constexpr std::uint64_t max_number = 10'000;
constexpr std::uint64_t max_latency_ms = 2'000;
/// 2026-11-24T00:00:00Z in Unix seconds; the lines' times are spread over that day.
constexpr std::int64_t day_start = 1'795'478'400;
constexpr std::int64_t seconds_per_day = 86'400;
/// How much text the generator collects before it writes.
constexpr std::size_t write_chunk = 1 << 20;

/// The index of the level of a line, from a number in [0, 100).
std::uint8_t level_for(std::uint64_t percentile) {
  for (std::uint8_t i = 0; i < levels.size(); ++i) {
    if (percentile < levels[i].percent) return i;
    percentile -= levels[i].percent;
  }
  return static_cast<std::uint8_t>(levels.size() - 1);
}

/// The record of line `id` of `lines`, drawn from `rng`.
log_record draw(std::mt19937_64& rng, std::int64_t id, std::int64_t lines) {
  log_record r;
  r.second = static_cast<std::uint32_t>((id - 1) * seconds_per_day / lines);
  r.level = level_for(rng() % 100);
  r.message = static_cast<std::uint8_t>(rng() % levels[r.level].messages.size());
  r.number = static_cast<std::uint32_t>(rng() % max_number);
  r.host = static_cast<std::uint8_t>(rng() % hosts);
  r.latency_ms = static_cast<std::uint16_t>(rng() % max_latency_ms);
  return r;
}

/// The message of `r` with its `#` replaced by the number, still escaped.
void append_message(std::string& out, const log_record& r) {
  const std::string_view message = levels[r.level].messages[r.message];
  const auto hash = message.find('#');
  out.append(message.substr(0, hash)).append(std::to_string(r.number)).append(message.substr(hash + 1));
}

/// Appends the value of field `f` of line `id` as JSON text.
void append_value(std::string& out, const log_record& r, std::int64_t id, log_field f) {
  switch (f) {
    case log_field::id:
      out += std::to_string(id);
      return;
    case log_field::ts:
      out += std::to_string(day_start + r.second);
      return;
    case log_field::level:
      out.append("\"").append(level_name(r)).append("\"");
      return;
    case log_field::host:
      out.append("\"web-").append(std::to_string(r.host)).append("\"");
      return;
    case log_field::msg:
      out += '"';
      append_message(out, r);
      out += '"';
      return;
    case log_field::latency_ms:
      out += std::to_string(r.latency_ms);
      return;
  }
}

}  // namespace

std::string_view name(log_field f) noexcept { return field_names[static_cast<std::size_t>(f)]; }

std::string_view level_name(const log_record& r) noexcept { return levels[r.level].name; }

std::string render(const log_record& r, std::int64_t id, std::span<const log_field> fields, json_spacing spacing) {
  const std::string_view comma = spacing == json_spacing::spaced ? ", " : ",";
  const std::string_view colon = spacing == json_spacing::spaced ? "\": " : "\":";
  std::string out = "{";
  for (const log_field f : fields) {
    if (out.size() > 1) out += comma;
    out.append("\"").append(name(f)).append(colon);
    append_value(out, r, id, f);
  }
  out += '}';
  return out;
}

log_contents write_log(const std::filesystem::path& path, std::int64_t lines, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::ofstream file(path, std::ios::binary);
  log_contents log;
  log.records.reserve(static_cast<std::size_t>(lines));
  std::string chunk;
  chunk.reserve(write_chunk + 512);
  for (std::int64_t id = 1; id <= lines; ++id) {
    log.records.push_back(draw(rng, id, lines));
    chunk += render(log.records.back(), id, every_field);
    chunk += '\n';
    if (chunk.size() >= write_chunk || id == lines) {
      file.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      log.bytes += chunk.size();
      chunk.clear();
    }
  }
  file.close();
  if (!file) throw std::runtime_error("cannot write the log " + path.string());
  return log;
}

}  // namespace sluice::bench
