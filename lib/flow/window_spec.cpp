// sluice/flow/window_spec.hpp's functions: validation and the window arithmetic.
#include <sluice/flow/window_spec.hpp>

#include <algorithm>
#include <limits>

namespace sluice::flow {

namespace {

std::string out_of_range(const char* field, std::int64_t got, std::int64_t lo, std::int64_t hi) {
  return std::string(field) + " is " + std::to_string(got) + ", expected " + std::to_string(lo) + " to " + std::to_string(hi);
}

}  // namespace

const char* to_string(trigger_kind t) noexcept {
  switch (t) {
    case trigger_kind::watermark: return "watermark";
    case trigger_kind::count: return "count";
    case trigger_kind::end: return "end";
    case trigger_kind::every_events: return "every_events";
    case trigger_kind::every_ms: return "every_ms";
  }
  return "?";
}

const char* to_string(window_kind k) noexcept {
  switch (k) {
    case window_kind::tumbling: return "tumbling";
    case window_kind::sliding: return "sliding";
    case window_kind::session: return "session";
    case window_kind::count: return "count";
  }
  return "?";
}

std::string validate(const window_spec& s) {
  const auto in = [](std::int64_t v, std::int64_t lo, std::int64_t hi) { return v >= lo && v <= hi; };
  switch (s.kind) {
    case window_kind::tumbling:
      if (!in(s.size_ms, 1, max_window_ms)) return out_of_range("size_ms", s.size_ms, 1, max_window_ms);
      break;
    case window_kind::sliding:
      if (!in(s.size_ms, 1, max_window_ms)) return out_of_range("size_ms", s.size_ms, 1, max_window_ms);
      if (!in(s.slide_ms, 1, s.size_ms)) return out_of_range("slide_ms", s.slide_ms, 1, s.size_ms) + " (a slide above the size would leave events in no window)";
      if (s.size_ms / s.slide_ms > max_windows_per_event) return "size_ms / slide_ms is " + std::to_string(s.size_ms / s.slide_ms) + ", expected at most " + std::to_string(max_windows_per_event) + " (each event joins that many windows)";
      break;
    case window_kind::session:
      if (!in(s.gap_ms, 1, max_window_ms)) return out_of_range("gap_ms", s.gap_ms, 1, max_window_ms);
      break;
    case window_kind::count:
      if (s.count < 1 || s.count > max_window_count) return out_of_range("count", static_cast<std::int64_t>(std::min<std::uint64_t>(s.count, max_time_ms)), 1, max_window_count);
      break;
  }
  if (!in(s.allowed_lateness_ms, 0, max_window_ms)) return out_of_range("allowed_lateness_ms", s.allowed_lateness_ms, 0, max_window_ms);
  if (s.every_events > max_window_count) return out_of_range("every_events", static_cast<std::int64_t>(std::min<std::uint64_t>(s.every_events, max_time_ms)), 0, max_window_count);
  if (!in(s.every.count(), 0, max_window_ms)) return out_of_range("every_ms", s.every.count(), 0, max_window_ms);
  return {};
}

std::int64_t ms_from_ns(std::int64_t ns) noexcept {
  // To the nearest microsecond first: 1700000000.123 s is 1700000000.12299990654 as a double, whose
  // nanoseconds end in ...122999907; its digits say millisecond 123, and so does its microsecond.
  const std::int64_t us = floor_div(ns, 1000) + (ns - floor_div(ns, 1000) * 1000 >= 500 ? 1 : 0);
  return floor_div(us, 1000);
}

std::int64_t wall_clock_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace sluice::flow
