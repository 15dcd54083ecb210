// sluice-bench/log_lines.cpp: a seeded log generator and the check of a filter's output.
//
// The generator draws from std::mt19937_64, whose output sequence the standard fixes, and reduces
// it with `%` rather than a std distribution (whose algorithm is left to the library), so the file
// is the same on every machine. Messages come from a few templates per level with a number in
// them; one warning template holds escaped quotes, so readers must really parse the strings.
#include "log_lines.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sluice::bench {

namespace {

/// A level and its message templates; `#` stands for a number drawn per line.
struct level_kind {
  std::string_view name;
  unsigned percent;
  std::array<std::string_view, 4> messages;
};

constexpr std::array<level_kind, 4> levels{{
    {"error", 10,
     {"upstream timed out after # ms", "connection refused by db-#:5432", "payment # failed: card declined",
      "unhandled exception in GET /api/orders/#"}},
    {"warn", 15,
     {"slow query \\\"SELECT * FROM orders WHERE id = #\\\"", "retrying request # (attempt 2 of 3)",
      "cache eviction rate high: # per s", "certificate expires in # days"}},
    {"info", 45, {"GET /api/users/# 200", "POST /api/orders 201 id=#", "user # logged in", "job # finished"}},
    {"debug", 30, {"cache hit for key user:#", "span # closed", "pool size #", "config reloaded (revision #)"}},
}};

constexpr std::size_t hosts = 8;
constexpr std::uint64_t max_number = 100'000;
constexpr std::uint64_t max_latency_ms = 2'000;
constexpr std::int64_t seconds_per_day = 86'400;
/// How much text the generator collects before it writes.
constexpr std::size_t write_chunk = 1 << 20;

/// The level of a line, from a number in [0, 100).
const level_kind& level_for(std::uint64_t percentile) {
  for (const level_kind& l : levels) {
    if (percentile < l.percent) return l;
    percentile -= l.percent;
  }
  return levels.back();
}

/// `message` with its `#` replaced by `number`, as it appears between the quotes of a JSON string.
std::string fill(std::string_view message, std::uint64_t number) {
  const auto hash = message.find('#');
  return std::string(message.substr(0, hash)) + std::to_string(number) + std::string(message.substr(hash + 1));
}

/// "2026-11-24T10:00:00Z" for the `id`th of `lines` lines spread over the day.
std::string timestamp(std::int64_t id, std::int64_t lines) {
  const std::int64_t second = (id - 1) * seconds_per_day / lines;
  char text[32];
  std::snprintf(text, sizeof text, "2026-11-24T%02d:%02d:%02dZ", static_cast<int>(second / 3600),
                static_cast<int>(second / 60 % 60), static_cast<int>(second % 60));
  return text;
}

/// Appends line `id` to `out`; returns its level and the message as written (still escaped).
std::pair<std::string_view, std::string> append_line(std::string& out, std::int64_t id, std::int64_t lines,
                                                     std::mt19937_64& rng) {
  const level_kind& level = level_for(rng() % 100);
  std::string msg = fill(level.messages[rng() % level.messages.size()], rng() % max_number);
  out += "{\"id\":" + std::to_string(id) + ",\"ts\":\"" + timestamp(id, lines) + "\",\"level\":\"";
  out += level.name;
  out += "\",\"msg\":\"" + msg + "\",\"host\":\"web-" + std::to_string(rng() % hosts) +
         "\",\"latency_ms\":" + std::to_string(rng() % max_latency_ms) + "}\n";
  return {level.name, std::move(msg)};
}

/// One parsed output line as {id, msg}; throws if it is not a JSON object with exactly those two.
std::pair<std::int64_t, std::string> parse_output_line(const std::string& line) {
  const nlohmann::json v = nlohmann::json::parse(line);
  if (!v.is_object() || v.size() != 2 || !v.contains("id") || !v.contains("msg") ||
      !v["id"].is_number_integer() || !v["msg"].is_string()) {
    throw std::runtime_error("not an object {\"id\": integer, \"msg\": string}");
  }
  return {v["id"].get<std::int64_t>(), v["msg"].get<std::string>()};
}

/// Every line of `path` parsed, sorted by id; throws naming `system` and the line that is wrong.
error_lines read_output(const std::filesystem::path& path, const std::string& system) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(system + ": cannot read its output " + path.string());
  error_lines got;
  std::string line;
  while (std::getline(in, line)) {
    try {
      got.push_back(parse_output_line(line));
    } catch (const std::exception& e) {
      throw std::runtime_error(system + ": output line " + std::to_string(got.size() + 1) + " of " +
                               path.string() + ": " + e.what() + ": " + line.substr(0, 200));
    }
  }
  std::sort(got.begin(), got.end());
  return got;
}

/// "{id, msg}" of one line, for a message.
std::string show(const std::pair<std::int64_t, std::string>& line) {
  return "{" + std::to_string(line.first) + ", \"" + line.second + "\"}";
}

}  // namespace

error_lines write_log(const std::filesystem::path& path, std::int64_t lines, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::ofstream file(path, std::ios::binary);
  error_lines errors;
  std::string chunk;
  chunk.reserve(write_chunk + 512);
  for (std::int64_t id = 1; id <= lines; ++id) {
    auto [level, msg] = append_line(chunk, id, lines, rng);
    if (level == "error") errors.emplace_back(id, nlohmann::json::parse('"' + msg + '"').get<std::string>());
    if (chunk.size() >= write_chunk || id == lines) {
      file.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      chunk.clear();
    }
  }
  file.close();
  if (!file) throw std::runtime_error("cannot write the log " + path.string());
  return errors;
}

void check_filtered(const std::filesystem::path& path, const error_lines& expected, const std::string& system) {
  const error_lines got = read_output(path, system);
  if (got.size() != expected.size()) {
    throw std::runtime_error(system + ": " + std::to_string(got.size()) + " output lines, expected " +
                             std::to_string(expected.size()) + " (one per error line)");
  }
  const auto [want, have] = std::mismatch(expected.begin(), expected.end(), got.begin());
  if (want != expected.end()) {
    throw std::runtime_error(system + ": expected " + show(*want) + " in the output, found " + show(*have) +
                             " in its place (sorted by id)");
  }
}

}  // namespace sluice::bench
