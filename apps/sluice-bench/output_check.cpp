// sluice-bench/output_check.cpp: the output check, a byte comparison first and a parse when it fails.
#include "output_check.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace sluice::bench {

namespace {

using json = nlohmann::json;

/// How much of an offending line goes into a message.
constexpr std::size_t quoted_bytes = 200;

/// The id a line probably names (the integer after its first `"id":`), or 0. Only a guess that
/// picks the expected text for the byte comparison: a wrong guess costs a parse, never a verdict.
std::int64_t guess_id(const std::string& line) {
  const auto key = line.find("\"id\":");
  if (key == std::string::npos) return 0;
  const char* first = line.data() + key + 5;
  const char* last = line.data() + line.size();
  while (first != last && *first == ' ') ++first;
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(first, last, id);
  return ec == std::errc{} ? id : 0;
}

/// The integer `id` of a parsed output line, or 0 if it has none.
std::int64_t id_of(const json& v) {
  if (!v.is_object()) return 0;
  const auto it = v.find("id");
  if (it == v.end() || !it->is_number_integer()) return 0;
  return it->get<std::int64_t>();
}

/// One check of one output file, fed line by line.
class checker {
 public:
  checker(const log_contents& log, const expected_output& want, std::string where)
      : log_(log), want_(want), sorted_(want.fields), where_(std::move(where)), seen_(log.records.size() + 1, 0) {
    std::sort(sorted_.begin(), sorted_.end(), [](log_field a, log_field b) { return name(a) < name(b); });
  }

  /// Checks output line number `number` (1-based), `text`.
  void line(const std::string& text, std::size_t number) {
    const std::int64_t guess = guess_id(text);
    if (kept(guess) && (text == expected(guess, want_.fields) || text == expected(guess, sorted_) ||
                        text == expected(guess, want_.fields, json_spacing::spaced))) {
      count(guess, number);
      return;
    }
    json value;
    try {
      value = json::parse(text);
    } catch (const json::exception& e) {
      fail(number, std::string("not JSON (") + e.what() + "): " + text.substr(0, quoted_bytes));
    }
    const std::int64_t id = id_of(value);
    if (!kept(id)) fail(number, "no id of a line the scenario keeps: " + text.substr(0, quoted_bytes));
    if (value != json::parse(expected(id, want_.fields))) {
      fail(number, "expected " + expected(id, want_.fields) + ", found " + text.substr(0, quoted_bytes));
    }
    count(id, number);
  }

  /// Checks that every kept line was seen.
  void finish(std::size_t lines) const {
    for (std::size_t id = 1; id < seen_.size(); ++id) {
      if (kept(static_cast<std::int64_t>(id)) && seen_[id] == 0) {
        throw std::runtime_error(where_ + ": " + std::to_string(lines) + " lines, and the line with id " +
                                 std::to_string(id) +
                                 " is missing: " + expected(static_cast<std::int64_t>(id), want_.fields));
      }
    }
  }

 private:
  bool kept(std::int64_t id) const {
    if (id < 1 || static_cast<std::uint64_t>(id) > log_.records.size()) return false;
    return !want_.keeps || want_.keeps(record(id));
  }
  const log_record& record(std::int64_t id) const { return log_.records[static_cast<std::size_t>(id - 1)]; }
  std::string expected(std::int64_t id, const std::vector<log_field>& fields,
                       json_spacing spacing = json_spacing::compact) const {
    return render(record(id), id, fields, spacing);
  }
  void count(std::int64_t id, std::size_t number) {
    if (seen_[static_cast<std::size_t>(id)]++ != 0) fail(number, "id " + std::to_string(id) + " a second time");
  }
  [[noreturn]] void fail(std::size_t number, const std::string& what) const {
    throw std::runtime_error(where_ + " line " + std::to_string(number) + ": " + what);
  }

  const log_contents& log_;
  const expected_output& want_;
  std::vector<log_field> sorted_;   ///< want_.fields in key order, as gojq and nlohmann write them
  std::string where_;               ///< "system: output file", for messages
  std::vector<std::uint8_t> seen_;  ///< by id: how often it appeared
};

}  // namespace

void check_output(const std::filesystem::path& path, const log_contents& log, const expected_output& want,
                  const std::string& system) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(system + ": cannot read its output " + path.string());
  checker check(log, want, system + ": output " + path.string());
  std::string text;
  std::size_t number = 0;
  while (std::getline(in, text)) check.line(text, ++number);
  check.finish(number);
}

}  // namespace sluice::bench
