// tests/integration/window_example_check.hpp: what pipelines/window_counts.json must produce,
// computed here from pipelines/data/app.log.jsonl (lines per service per 10 s of their `ts`).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace sluice::testing {

inline void check_window_counts(const temp_dir& dir, const run_result& r) {
  constexpr std::int64_t ten_am_utc = 1714557600;  // 2024-05-01T10:00:00Z, every line's hour
  std::map<std::pair<std::string, std::int64_t>, int> expected;
  for (const auto& line : jsonl(read_file(pipelines_dir() / "data" / "app.log.jsonl"))) {
    const std::string ts = line["ts"];  // 2024-05-01T10:MM:SSZ
    const std::int64_t seconds = std::stoi(ts.substr(14, 2)) * 60 + std::stoi(ts.substr(17, 2));
    ++expected[{line["service"], (ten_am_utc + seconds / 10 * 10) * 1000}];
  }
  std::vector<nlohmann::json> want;
  for (auto& [k, n] : expected) {
    want.push_back({{"key", k.first}, {"start", k.second}, {"end", k.second + 10000}, {"value", n}, {"count", n}, {"trigger", "end"}});
  }
  auto got = jsonl(read_file(dir / "window_counts.jsonl"));
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  // Which windows close by the watermark and which at the end depends on how the services are
  // spread over the copies (a copy's watermark follows its own events): the trigger is left out.
  for (auto& v : got) v.erase("trigger");
  for (auto& v : want) v.erase("trigger");
  CHECK(got == want);
  CHECK(parse_summary(r.err)["per_10s"].skipped == 0);
}

}  // namespace sluice::testing
