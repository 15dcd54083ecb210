// tests/unit/window_reference.hpp: windows computed the slow, obvious way, for the window tests
// (unit and CLI) to compare sluice's results with: window membership by brute force over k,
// sessions offline (sorted per key, merged while closer than the gap), count windows by chunks.
// Shares no code with sluice/flow: only window_spec as the description of the windows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <tuple>
#include <vector>

#include <sluice/flow/window_spec.hpp>

namespace sluice::testing::windows {

using flow::window_kind;
using flow::window_spec;

struct ev {
  int key;
  std::int64_t time;
  std::int64_t value;
};

/// A final result, comparable.
struct row {
  int key;
  std::int64_t start;
  std::int64_t end;
  std::int64_t sum;
  std::uint64_t count;
  auto tie() const { return std::tie(key, start, end, sum, count); }
  bool operator<(const row& o) const { return tie() < o.tie(); }
  bool operator==(const row& o) const { return tie() == o.tie(); }
};

/// Window starts holding t, by brute force over k (tumbling: slide = size).
inline std::vector<std::int64_t> ref_starts(const window_spec& s, std::int64_t t) {
  const std::int64_t slide = s.kind == window_kind::sliding ? s.slide_ms : s.size_ms;
  std::vector<std::int64_t> starts;
  const auto k0 = static_cast<std::int64_t>(std::floor(static_cast<double>(t - s.size_ms) / static_cast<double>(slide))) - 2;
  for (std::int64_t k = k0; k * slide <= t + slide; ++k) {
    if (k * slide <= t && t < k * slide + s.size_ms) starts.push_back(k * slide);
  }
  return starts;
}

inline bool ref_late(const window_spec& s, std::int64_t t, std::int64_t wm) {
  if (s.kind == window_kind::count) return false;
  if (s.kind == window_kind::session) return t < wm;
  return ref_starts(s, t).front() + s.size_ms <= wm;
}

struct reference {
  std::vector<row> rows;
  std::vector<ev> late;
};

inline reference compute_reference(const window_spec& s, const std::vector<ev>& events) {
  reference r;
  std::vector<ev> accepted;
  std::int64_t newest = std::numeric_limits<std::int64_t>::min();
  std::int64_t wm = newest;
  for (const ev& e : events) {
    if (ref_late(s, e.time, wm)) {
      r.late.push_back(e);
      continue;
    }
    accepted.push_back(e);
    newest = std::max(newest, e.time);
    wm = newest - s.allowed_lateness_ms;
  }
  std::map<std::tuple<int, std::int64_t, std::int64_t>, std::pair<std::int64_t, std::uint64_t>> windows;
  std::map<int, std::vector<ev>> by_key;
  for (const ev& e : accepted) by_key[e.key].push_back(e);
  for (auto& [k, es] : by_key) {
    if (s.kind == window_kind::tumbling || s.kind == window_kind::sliding) {
      for (const ev& e : es) {
        for (std::int64_t start : ref_starts(s, e.time)) {
          auto& w = windows[{k, start, start + s.size_ms}];
          w.first += e.value;
          ++w.second;
        }
      }
    } else if (s.kind == window_kind::session) {
      std::stable_sort(es.begin(), es.end(), [](const ev& a, const ev& b) { return a.time < b.time; });
      std::size_t i = 0;
      while (i < es.size()) {
        std::int64_t start = es[i].time, end = es[i].time + s.gap_ms, sum = 0;
        std::uint64_t n = 0;
        for (; i < es.size() && es[i].time < end; ++i) {
          end = std::max(end, es[i].time + s.gap_ms);
          sum += es[i].value;
          ++n;
        }
        windows[{k, start, end}] = {sum, n};
      }
    } else {
      for (std::size_t i = 0; i < es.size(); i += s.count) {
        const std::size_t stop = std::min(es.size(), i + s.count);
        std::int64_t lo = es[i].time, hi = es[i].time, sum = 0;
        for (std::size_t j = i; j < stop; ++j) {
          lo = std::min(lo, es[j].time);
          hi = std::max(hi, es[j].time);
          sum += es[j].value;
        }
        windows[{k, lo, hi}] = {sum, stop - i};
      }
    }
  }
  for (auto& [w, agg] : windows) r.rows.push_back({std::get<0>(w), std::get<1>(w), std::get<2>(w), agg.first, agg.second});
  return r;
}

}  // namespace sluice::testing::windows
