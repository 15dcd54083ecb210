// sluice/flow/window_spec.hpp: what a window stage cuts a stream into, and when it emits.
//
// The untemplated half of sluice's windows (issue 17, Flow on sluice); keyed_windows.hpp keeps the
// per-key state and window_stage.hpp is the stage. Times are integer milliseconds since the Unix
// epoch, clamped to +-2^61 (saturating: no arithmetic below can overflow with the ranges here).
//
// - tumbling: [k*size, (k+1)*size), aligned to time 0; each event in exactly one window.
// - sliding: [k*slide, k*slide + size), slide <= size; each event in ceil-ish size/slide windows.
// - session: a window per key that grows while events come closer than `gap` to it: [t, t+gap)
//   merged with every open session of that key it overlaps.
// - count: every `count` events of a key (start/end: the earliest and latest event time in it).
//
// Event time: the watermark is the newest event time this instance has seen minus
// `allowed_lateness_ms`; a window closes (emits, frees its state) when the watermark reaches its end.
// An event is late when a window it belongs to has already closed: for tumbling and sliding
// windows, when the first window holding it ends at or before the watermark; for sessions, when
// its time is below the watermark (the session it would join may have closed). Late events join no
// window: the stage counts them and hands them on. Processing time: the event's time is the wall
// clock when the stage takes it, the watermark is the wall clock (a timer closes windows), nothing
// is ever late.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace sluice::flow {

enum class window_kind : std::uint8_t { tumbling, sliding, session, count };
enum class time_base : std::uint8_t { event, processing };

/// Why a result was emitted. `watermark`, `count` and `end` results are final (the window's state
/// is freed); `every_events` and `every_ms` ones are partial (the window stays open).
enum class trigger_kind : std::uint8_t { watermark, count, end, every_events, every_ms };

/// "watermark", "count", "end", "every_events", "every_ms".
const char* to_string(trigger_kind t) noexcept;
/// "tumbling", "sliding", "session", "count".
const char* to_string(window_kind k) noexcept;

/// The longest size, slide, gap and allowed lateness: ten years of milliseconds.
inline constexpr std::int64_t max_window_ms = 10LL * 365 * 24 * 60 * 60 * 1000;
/// The most events a count window (or an every_events trigger) counts.
inline constexpr std::uint64_t max_window_count = 1'000'000'000;
/// The most sliding windows one event may join (size_ms / slide_ms).
inline constexpr std::int64_t max_windows_per_event = 1000;
/// Times are clamped to +-this many milliseconds.
inline constexpr std::int64_t max_time_ms = std::int64_t{1} << 61;

/// A window stage's configuration.
struct window_spec {
  window_kind kind = window_kind::tumbling;
  std::int64_t size_ms = 60'000;   ///< tumbling, sliding: 1 to max_window_ms
  std::int64_t slide_ms = 0;       ///< sliding: 1 to size_ms
  std::int64_t gap_ms = 0;         ///< session: 1 to max_window_ms
  std::uint64_t count = 0;         ///< count: 1 to max_window_count
  time_base time = time_base::event;
  std::int64_t allowed_lateness_ms = 0;  ///< event time: 0 to max_window_ms
  /// Also emit a partial result of a window each time it has taken this many more events (0: never).
  std::uint64_t every_events = 0;
  /// Also emit a partial result of every window changed since the last such emission, this often
  /// (0: never). A timer runs only while some window has changed.
  std::chrono::milliseconds every{0};
};

/// Empty when `s` is valid, else what is wrong (naming the field and the range expected).
std::string validate(const window_spec& s);

/// What a window stage reports while it runs: shared with whoever shows metrics. Relaxed atomics:
/// each is a racy observer, written by the stage instance(s) that share it.
struct window_metrics {
  std::atomic<std::int64_t> open_windows{0};   ///< windows holding state now
  std::atomic<std::uint64_t> late_events{0};   ///< events judged late (handed on, never dropped)
  std::atomic<std::uint64_t> results{0};       ///< results emitted (partial ones included)
};

/// Where a value stands among a window's values: its event time, then its arrival order.
struct stamp {
  std::int64_t time_ms = 0;
  std::uint64_t seq = 0;
  friend bool operator<(const stamp& a, const stamp& b) noexcept {
    return a.time_ms != b.time_ms ? a.time_ms < b.time_ms : a.seq < b.seq;
  }
};

/// a / b rounded toward minus infinity (b > 0).
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/// `t` clamped into [-max_time_ms, max_time_ms].
inline std::int64_t clamp_time(std::int64_t t) noexcept { return t < -max_time_ms ? -max_time_ms : (t > max_time_ms ? max_time_ms : t); }
/// Milliseconds from nanoseconds since the epoch: to the nearest microsecond, then rounded down
/// (so that seconds written with decimals, converted through a double, land in the millisecond
/// their digits say).
std::int64_t ms_from_ns(std::int64_t ns) noexcept;
/// The wall clock in milliseconds since the epoch.
std::int64_t wall_clock_ms() noexcept;

// Inline: called per event.

/// Tumbling and sliding: the start of the last window holding time `t`.
inline std::int64_t last_window_start(const window_spec& s, std::int64_t t) noexcept {
  const std::int64_t step = s.kind == window_kind::sliding ? s.slide_ms : s.size_ms;
  return floor_div(t, step) * step;
}

/// Tumbling and sliding: the start of the first (earliest) window holding time `t`.
inline std::int64_t first_window_start(const window_spec& s, std::int64_t t) noexcept {
  if (s.kind != window_kind::sliding) return last_window_start(s, t);
  // The smallest multiple of slide above t - size: windows [k*slide, k*slide + size) holding t.
  return (floor_div(t - s.size_ms, s.slide_ms) + 1) * s.slide_ms;
}

/// Whether an event at time `t` is late under watermark `wm` (see the file comment). Never when
/// `t` is at or past the watermark: every window holding `t` ends after it.
inline bool is_late(const window_spec& s, std::int64_t t, std::int64_t wm) noexcept {
  if (t >= wm) return false;
  switch (s.kind) {
    case window_kind::tumbling:
    case window_kind::sliding: return first_window_start(s, t) + s.size_ms <= wm;
    case window_kind::session: return true;
    case window_kind::count: return false;
  }
  return false;
}

}  // namespace sluice::flow
