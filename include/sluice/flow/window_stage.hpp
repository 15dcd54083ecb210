// sluice/flow/window_stage.hpp: a keyed window reducer as a producer_consumer stage.
//
//   auto counts = flow::make_window_stage<click>(spec, flow::count_of<int>{},
//       [](const click& c) { return c.user; },          // key
//       [](const click& c) { return c.time_ms; },       // event time, ms since the epoch
//       [](const click&) { return 1; });                // value
//   pid w = start(rt, std::move(counts));
//
// It emits `window_output`: a `window_result` per window result, or a `late_event` holding an
// input that came too late for its windows (never dropped: counted in window_metrics and handed
// on, for a consumer to route). Windows close as the watermark passes their end (event time) or
// the wall clock does (processing time, by a timer that runs only while a window is open); the
// spec's `every_events` / `every` add partial results; when the input ends every open window is
// emitted (trigger `end`). Parallel use: partition upstream on the same key (a partition
// dispatcher), one stage per partition: each key's windows live in one instance. The watermark is
// per instance.
//
// A template over the event type rather than a stage over JSON events: the key, time and value
// functions are inlined, values keep their C++ types (an int64 sum stays exact) and an event type
// costs nothing it does not use. The JSON `window` stage is one use of keyed_windows.hpp beside it.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include <sluice/flow/aggregations.hpp>
#include <sluice/flow/keyed_windows.hpp>
#include <sluice/flow/window_spec.hpp>
#include <sluice/process/runtime.hpp>
#include <sluice/stage/callbacks.hpp>

namespace sluice::flow {

/// The wall clock of `rt` in milliseconds since the epoch: processing time (virtual in `sluice
/// test`, see runtime_options::virtual_time).
inline std::int64_t wall_clock_ms(const runtime& rt) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(rt.system_now().time_since_epoch()).count();
}

/// An input that came too late for its windows (see window_spec.hpp), handed on untouched.
template <class In>
struct late_event {
  In event;
};

/// What a window stage emits.
template <class In, class Key, class R>
using window_output = std::variant<window_result<Key, R>, late_event<In>>;

template <class In, class Agg, class KeyFn, class TimeFn, class ValueFn>
class window_stage final
    : public producer_consumer<In, window_output<In, std::decay_t<std::invoke_result_t<KeyFn&, const In&>>, typename Agg::result_type>> {
 public:
  using key_type = std::decay_t<std::invoke_result_t<KeyFn&, const In&>>;
  using out_type = window_output<In, key_type, typename Agg::result_type>;

  /// Hands each window result on.
  struct emitter {
    stage_context<out_type>& ctx;
    template <class R>
    void operator()(R&& r) const {
      ctx.emit(out_type{std::forward<R>(r)});
    }
  };

  /// Throws std::invalid_argument when `spec` is not valid (validate's message).
  window_stage(window_spec spec, Agg agg, KeyFn key, TimeFn time, ValueFn value, std::shared_ptr<window_metrics> metrics)
      : windows_(checked(spec), std::move(agg), std::move(metrics)), key_(std::move(key)), time_(std::move(time)), value_(std::move(value)) {}

  void handle_events(std::span<In> events, subscription_ref, stage_context<out_type>& ctx) override {
    emitter out{ctx};
    const bool processing = windows_.spec().time == time_base::processing;
    const std::int64_t now = processing ? wall_clock_ms(ctx.process().rt()) : 0;
    if (processing) windows_.advance_to(now, out);
    // The accessors capture by value: keyed_windows keeps them in registers (see add_all).
    const In* in = events.data();
    windows_.add_all(
        events.size(), [this, in](std::size_t i) -> decltype(auto) { return key_(in[i]); },
        [this, in, processing, now](std::size_t i) { return processing ? now : static_cast<std::int64_t>(time_(in[i])); },
        [this, in](std::size_t i) -> decltype(auto) { return value_(in[i]); },
        [&](std::size_t i) { ctx.emit(out_type{late_event<In>{std::move(events[i])}}); }, out);
    arm(ctx);
  }

  void handle_info(message& m, stage_context<out_type>& ctx) override {
    if (m.is<close_due>()) {
      close_armed_ = false;
      windows_.advance_to(wall_clock_ms(ctx.process().rt()), emitter{ctx});
    } else if (m.is<every_due>()) {
      every_armed_ = false;
      windows_.emit_changed(emitter{ctx});
    }
    arm(ctx);
  }

  bool handle_input_end(stage_context<out_type>& ctx) override {
    windows_.close_all(emitter{ctx});
    return true;
  }

  /// The windows open in this instance (racy only in that it is read from the stage's thread).
  std::size_t open() const noexcept { return windows_.open(); }

 private:
  struct close_due {};
  struct every_due {};

  static window_spec checked(const window_spec& s) {
    if (std::string why = validate(s); !why.empty()) throw std::invalid_argument("window: " + why);
    return s;
  }

  /// Timers only while there is something for them: an open processing-time window (its end), a
  /// changed window (every_ms). One of each at a time.
  void arm(stage_context<out_type>& ctx) {
    const window_spec& s = windows_.spec();
    if (s.time == time_base::processing && !close_armed_) {
      if (auto end = windows_.next_end()) {
        close_armed_ = true;
        const std::int64_t wait = std::clamp<std::int64_t>(*end - wall_clock_ms(ctx.process().rt()), 1, max_window_ms);
        ctx.process().send_after(ctx.self(), close_due{}, std::chrono::milliseconds(wait));
      }
    }
    if (s.every.count() > 0 && !every_armed_ && windows_.changed()) {
      every_armed_ = true;
      ctx.process().send_after(ctx.self(), every_due{}, s.every);
    }
  }

  keyed_windows<key_type, Agg> windows_;
  KeyFn key_;
  TimeFn time_;
  ValueFn value_;
  bool close_armed_ = false;
  bool every_armed_ = false;
};

/// A window stage over events of type `In` (see the file comment); throws std::invalid_argument
/// for an invalid spec.
template <class In, class Agg, class KeyFn, class TimeFn, class ValueFn>
auto make_window_stage(window_spec spec, Agg agg, KeyFn key, TimeFn time, ValueFn value,
                       std::shared_ptr<window_metrics> metrics = nullptr) {
  return std::make_unique<window_stage<In, Agg, KeyFn, TimeFn, ValueFn>>(spec, std::move(agg), std::move(key), std::move(time),
                                                                         std::move(value), std::move(metrics));
}

}  // namespace sluice::flow
