// tests/integration/example_checks.hpp: what each example pipeline in pipelines/ must produce.
//
// Every file in pipelines/ is run by cli_test.cpp; its entry here checks the outputs' content (not
// only that they exist) and the summary's counts. A new example needs a new entry.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "window_example_check.hpp"

namespace sluice::testing {

using nlohmann::json;

/// The example pipelines, sorted (not their test files, NAME.test.json: see `sluice test`).
inline std::vector<std::filesystem::path> example_pipelines() {
  std::vector<std::filesystem::path> files;
  for (auto& entry : std::filesystem::directory_iterator(pipelines_dir())) {
    const bool test_file = entry.path().filename().string().ends_with(".test.json");
    if (entry.path().extension() == ".json" && !test_file) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// Checks that `text` is whole JSON lines (the last one ends with '\n') and returns them parsed.
inline std::vector<json> whole_jsonl(const std::string& text) {
  CHECK((text.empty() || text.back() == '\n'));
  auto values = jsonl(text);
  std::size_t broken = 0;
  for (auto& v : values) broken += v.is_discarded() ? 1 : 0;
  CHECK(broken == 0);
  return values;
}

/// Checks the outputs of one example (run with OUT_DIR and OUT in `dir`) and its summary.
using content_check = std::function<void(const temp_dir&, const run_result&)>;

inline void check_hello(const temp_dir& dir, const run_result& r) {
  const auto values = whole_jsonl(read_file(dir / "evens.jsonl"));
  CHECK(values.size() == 50000);
  std::set<std::int64_t> seen;
  std::size_t odd = 0;
  for (auto& v : values) {
    const auto n = v.is_number_integer() ? v.get<std::int64_t>() : 1;
    odd += n % 2 != 0 ? 1 : 0;
    seen.insert(n);
  }
  CHECK(odd == 0);
  CHECK(seen.size() == values.size());  // each exactly once
  CHECK((!seen.empty() && *seen.begin() == 2 && *seen.rbegin() == 100000));
  const auto s = parse_summary(r.err);
  CHECK(s["numbers"].out == 100000);
  CHECK(s["evens"].copies == 2);
  CHECK(s["out"].in == values.size());
}

inline void check_word_count(const temp_dir& dir, const run_result& r) {
  // Count the words of the input here, independently: lower-case runs of letters and apostrophes.
  std::map<std::string, std::int64_t> counts;
  std::string word;
  for (char c : read_file(pipelines_dir() / "data" / "poem.txt") + "\n") {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if ((c >= 'a' && c <= 'z') || c == '\'') {
      word += c;
    } else if (!word.empty()) {
      ++counts[word];
      word.clear();
    }
  }
  std::vector<json> expected;
  for (auto& [w, n] : counts) expected.push_back({{"word", w}, {"count", n}});
  std::stable_sort(expected.begin(), expected.end(), [](const json& a, const json& b) { return a["count"] > b["count"]; });
  CHECK(whole_jsonl(read_file(dir / "word_counts.jsonl")) == expected);
  const auto s = parse_summary(r.err);
  CHECK(s["lines"].out == lines_of(read_file(pipelines_dir() / "data" / "poem.txt")).size());
  CHECK(s["all"].out == 1);
  CHECK(s["out"].in == expected.size());
}

inline void check_log_filter(const temp_dir& dir, const run_result& r) {
  const auto log = jsonl(read_file(pipelines_dir() / "data" / "app.log.jsonl"));
  std::vector<json> expected;
  for (auto& e : log) {
    if (e["level"] == "warn" || e["level"] == "error") {
      expected.push_back({{"ts", e["ts"]}, {"level", e["level"]}, {"service", e["service"]}, {"msg", e["msg"]}});
    }
  }
  REQUIRE(!expected.empty());
  CHECK(whole_jsonl(read_file(dir / "problems.jsonl")) == expected);
  const auto s = parse_summary(r.err);
  CHECK(s["log"].out == log.size());
  CHECK(s["out"].in == expected.size());
}

inline void check_rate_limited(const temp_dir&, const run_result& r) {
  const auto values = whole_jsonl(r.out);
  CHECK(values.size() == 20);
  for (auto& v : values) CHECK((v == json{{"greeting", "hello"}}));
  // 20 events at 50 a second: at least 0.4 s (the limiter hands out 5 every 100 ms).
  CHECK(r.elapsed.count() >= 0.35);
  const auto s = parse_summary(r.err);
  CHECK(s["print"].in == 20);
  CHECK(s.wall_seconds.value_or(0) >= 0.35);
}

inline void check_partitioned(const temp_dir& dir, const run_result& r) {
  const auto values = whole_jsonl(read_file(dir / "squares.jsonl"));
  CHECK(values.size() == 10000);
  std::set<std::int64_t> seen;
  std::size_t wrong = 0;
  for (auto& v : values) {
    const auto n = v.value("n", std::int64_t{0});
    wrong += v == json{{"n", n}, {"square", n * n}, {"partition", n % 4}} ? 0 : 1;
    seen.insert(n);
  }
  CHECK(wrong == 0);
  CHECK((seen.size() == 10000 && *seen.begin() == 1 && *seen.rbegin() == 10000));  // each exactly once
  const auto s = parse_summary(r.err);
  CHECK(s["square"].copies == 4);
  CHECK(s["square"].in == 10000);
  CHECK(s["out"].in == 10000);
}

inline void check_broadcast(const temp_dir& dir, const run_result& r) {
  std::multiset<std::int64_t> parity;
  std::multiset<std::int64_t> sevens;
  std::size_t wrong = 0;
  for (auto& v : whole_jsonl(read_file(dir / "branches.jsonl"))) {
    const auto n = v.value("n", std::int64_t{0});
    if (v.contains("parity")) {
      wrong += v == json{{"n", n}, {"parity", n % 2 == 0 ? "even" : "odd"}} ? 0 : 1;
      parity.insert(n);
    } else {
      wrong += v == json{{"n", n}, {"seven", true}} && n % 7 == 0 ? 0 : 1;
      sevens.insert(n);
    }
  }
  CHECK(wrong == 0);
  std::multiset<std::int64_t> all_numbers;
  std::multiset<std::int64_t> multiples_of_7;
  for (std::int64_t n = 1; n <= 1000; ++n) {
    all_numbers.insert(n);
    if (n % 7 == 0) multiples_of_7.insert(n);
  }
  CHECK(parity == all_numbers);  // each exactly once
  CHECK(sevens == multiples_of_7);
  const auto s = parse_summary(r.err);
  CHECK(s["parity"].in == 1000);
  CHECK(s["sevens"].in == 1000);
  CHECK(s["out"].in == 1000 + 1000 / 7);
}

inline void check_restart(const temp_dir& dir, const run_result& r) {
  const auto values = whole_jsonl(read_file(dir / "restarted.jsonl"));
  CHECK(std::is_sorted(values.begin(), values.end()));
  CHECK(std::adjacent_find(values.begin(), values.end()) == values.end());  // nothing twice
  CHECK(std::count(values.begin(), values.end(), json(500)) == 0);
  CHECK((!values.empty() && values.front() == json(1) && values.back() == json(1000)));
  CHECK(values.size() >= 1000 - 10);  // the crash loses what was in flight: max_demand at most
  const auto s = parse_summary(r.err);
  CHECK(s["picky"].restarts == 1);
  CHECK(s["out"].in == values.size());
}

inline void check_dead_letters(const temp_dir& dir, const run_result& r) {
  const auto log = jsonl(read_file(pipelines_dir() / "data" / "app.log.jsonl"));
  std::vector<json> expected;
  std::vector<json> rejected;
  for (auto& e : log) {
    if (e["level"] == "debug") continue;
    if (e.contains("ms")) expected.push_back({{"ts", e["ts"]}, {"service", e["service"]}, {"seconds", e["ms"].get<double>() / 1000}});
    else rejected.push_back(e);
  }
  REQUIRE((!expected.empty() && !rejected.empty()));
  CHECK(whole_jsonl(read_file(dir / "timings.jsonl")) == expected);
  const auto letters = whole_jsonl(read_file(dir / "rejected.jsonl"));
  REQUIRE(letters.size() == rejected.size());
  for (std::size_t i = 0; i < letters.size(); ++i) {
    CHECK(letters[i]["event"] == rejected[i]);  // in order: one stage, one copy
    CHECK(letters[i]["stage"] == "timings");
    CHECK(letters[i]["attempts"] == 1);
    CHECK(letters[i]["error"].get<std::string>().find("cannot be divided") != std::string::npos);
  }
  const auto s = parse_summary(r.err);
  CHECK(s["timings"].dead_letters == rejected.size());
  CHECK(s["rejected"].in == rejected.size());
  CHECK(s["out"].in == expected.size());
}

inline const std::map<std::string, content_check>& content_checks() {
  static const std::map<std::string, content_check> checks{
      {"hello.json", check_hello},           {"word_count.json", check_word_count},
      {"log_filter.json", check_log_filter}, {"rate_limited.json", check_rate_limited},
      {"partitioned.json", check_partitioned}, {"broadcast.json", check_broadcast},
      {"restart.json", check_restart},
      {"window_counts.json", check_window_counts},
      {"dead_letters.json", check_dead_letters},
  };
  return checks;
}


}  // namespace sluice::testing
