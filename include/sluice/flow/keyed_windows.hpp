// sluice/flow/keyed_windows.hpp: the windows of every key one stage instance holds.
//
// Not a stage: window_stage.hpp (and the JSON `window` stage) feed it events and emit what it
// hands back. One thread at a time (a stage's process).
//
// State: a hash map from key to that key's open windows (a small vector sorted by start: one for
// tumbling, size/slide for sliding, the open sessions; detail/key_table.hpp: the keys' windows in
// one dense vector, found through a compact open-addressing table), and a min-heap of window ends for the
// watermark to close in order. A session that grows or merges pushes its new end; the entry of
// its old end goes stale and is skipped when the watermark reaches it (the heap holds at most one
// entry per event within allowed lateness + gap of the newest time). A closed window's state is
// freed, and a key without open windows leaves the map: memory follows the open windows.
// A caller that holds a batch of events hands it to `add_all` (window_stage.hpp does): the
// commonest event then takes a short path.
// The count of open windows is kept in window_metrics::open_windows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <queue>
#include <utility>
#include <vector>

#include <sluice/flow/detail/first_inline_vector.hpp>
#include <sluice/flow/detail/key_table.hpp>
#include <sluice/flow/window_spec.hpp>

namespace sluice::flow {

/// One window's result.
template <class Key, class R>
struct window_result {
  Key key;
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;  ///< exclusive (count windows: the latest event time)
  R value;
  std::uint64_t count = 0;  ///< the values it holds
  trigger_kind trigger = trigger_kind::watermark;
};

template <class Key, class Agg, class Hash = std::hash<Key>>
class keyed_windows {
 public:
  using value_type = typename Agg::value_type;
  using result_type = window_result<Key, typename Agg::result_type>;

  /// Precondition: validate(spec) is empty. `metrics` may be null.
  keyed_windows(window_spec spec, Agg agg, std::shared_ptr<window_metrics> metrics = nullptr)
      : spec_(spec), agg_(std::move(agg)), metrics_(std::move(metrics)) {}
  keyed_windows(const keyed_windows&) = delete;
  keyed_windows& operator=(const keyed_windows&) = delete;
  ~keyed_windows() { count_open(-static_cast<std::int64_t>(open_)); }

  /// Adds `v` (key `k`, time `t` ms) to its windows, unless it is late: then nothing is added and
  /// false is returned (the caller hands the event on as late; counted here). Results of the
  /// windows this closes (count windows filling, the watermark it moves) go to `out(result&&)`.
  template <class Out>
  bool add(const Key& k, std::int64_t t, const value_type& v, Out&& out) {
    return add_general(k, keys_.hash(k), t, v, out);
  }

  /// The events i in [0, n) one after another, as add(key_at(i), time_at(i), value_at(i), out)
  /// would, calling late(i) for each late one. Faster than a loop of add: the commonest event
  /// (tumbling windows in event time: see refresh_fast) takes a short path on state held in
  /// registers. Pass accessors that capture by value what they read (window_stage.hpp does): a
  /// value captured by reference is reloaded after each store to a window, which might alias it.
  template <class KeyAt, class TimeAt, class ValueAt, class Late, class Out>
  void add_all(std::size_t n, KeyAt&& key_at, TimeAt&& time_at, ValueAt&& value_at, Late&& late, Out&& out) {
    std::int64_t from = fast_from_;
    std::int64_t until = fast_until_;
    std::int64_t start = tumbling_start_;
    std::int64_t newest = newest_;
    std::uint64_t seq = seq_;
    bool changed = changed_;
    // Leaving the short path: its events moved the watermark as far as `newest` says (none of
    // them could be late or close a window: see refresh_fast).
    const auto save = [&] {
      seq_ = seq;
      changed_ = changed;
      if (newest != newest_) {
        newest_ = newest;
        watermark_ = std::max(watermark_, newest - spec_.allowed_lateness_ms);
      }
    };
    for (std::size_t i = 0; i < n; ++i) {
      const auto t = static_cast<std::int64_t>(time_at(i));
      const Key k = key_at(i);
      const std::uint64_t h = keys_.hash(k);
      if (t >= from && t < until) {
        window* w = keys_.find_or_insert(k, h).value.last();
        if (w != nullptr && w->start == start) {
          agg_.add(w->acc, value_at(i), stamp{t, seq++});
          ++w->n;
          w->changed = true;
          changed = true;
          newest = std::max(newest, t);
          continue;
        }
      }
      save();
      if (!add_general(k, h, t, value_at(i), out)) late(i);
      from = fast_from_;
      until = fast_until_;
      start = tumbling_start_;
      newest = newest_;
      seq = seq_;
      changed = changed_;
    }
    save();
  }

 private:
  /// add's general path (kept out of line: the fast path is inlined into the caller's loop).
  template <class Out>
#if defined(__GNUC__) || defined(__clang__)
  [[gnu::noinline]]
#endif
  bool add_general(const Key& k, std::uint64_t h, std::int64_t t, const value_type& v, Out& out) {
    t = clamp_time(t);
    const stamp s{t, seq_++};
    if (spec_.kind == window_kind::count) {
      add_counted(k, h, v, s, out);
      return true;
    }
    if (spec_.time == time_base::event && is_late(spec_, t, watermark_)) {
      if (metrics_) metrics_->late_events.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (spec_.kind == window_kind::session) {
      add_session(k, h, v, s, out);
    } else {
      add_fixed(k, h, v, s, out);
    }
    if (spec_.time == time_base::event) {
      newest_ = std::max(newest_, t);
      advance_to(newest_ - spec_.allowed_lateness_ms, out);
    }
    return true;
  }

 public:
  /// Moves the watermark to `wm` (never back) and closes every window ending at or before it.
  template <class Out>
  void advance_to(std::int64_t wm, Out&& out) {
    watermark_ = std::max(watermark_, wm);
    if (!due_.empty() && due_.top().end <= watermark_) close_due(out);
    refresh_fast();
  }

  /// Closes every open window (the input ended): trigger `end`.
  template <class Out>
  void close_all(Out&& out) {
    for (auto& [k, ws] : keys_) {
      for (window& w : ws) out(make_result(k, w, trigger_kind::end));
    }
    count_open(-static_cast<std::int64_t>(open_));
    open_ = 0;
    keys_.clear();
    due_ = {};
    refresh_fast();
  }

  /// Partial results (trigger `every_ms`) of the windows changed since the last call.
  template <class Out>
  void emit_changed(Out&& out) {
    for (auto& [k, ws] : keys_) {
      for (window& w : ws) {
        if (!w.changed) continue;
        w.changed = false;
        out(make_result(k, w, trigger_kind::every_ms));
      }
    }
    changed_ = false;
  }

  /// The earliest end of an open time window, if any (what a processing-time timer waits for).
  std::optional<std::int64_t> next_end() const {
    if (due_.empty()) return std::nullopt;
    return due_.top().end;
  }
  /// Whether a window changed since emit_changed.
  bool changed() const noexcept { return changed_; }
  std::size_t open() const noexcept { return open_; }
  std::int64_t watermark() const noexcept { return watermark_; }
  const window_spec& spec() const noexcept { return spec_; }

 private:
  struct window {
    std::int64_t start;
    std::int64_t end;
    typename Agg::acc_type acc;
    std::uint64_t n = 0;
    bool changed = false;
  };
  // A key's open windows, the first held in the key's entry itself: a tumbling or count window
  // (one per key) then costs no second allocation and no pointer to follow per event (window_count
  // in sluice-bench: the per-event lookup is most of the stage's time).
  using windows = detail::first_inline_vector<window>;
  using key_map = detail::key_table<Key, windows, Hash>;
  using key_entry = typename key_map::entry;
  struct due {
    std::int64_t end;
    std::int64_t start;
    Key key;
    bool operator>(const due& o) const noexcept { return end > o.end; }
  };

  /// Closes every window ending at or before the watermark, in end order.
  template <class Out>
  void close_due(Out& out) {
    while (!due_.empty() && due_.top().end <= watermark_) {
      const due d = due_.top();
      due_.pop();
      key_entry* it = keys_.find(d.key, keys_.hash(d.key));
      if (it == nullptr) continue;
      auto& ws = it->value;
      auto w = std::find_if(ws.begin(), ws.end(), [&](const window& x) { return x.start == d.start && x.end == d.end; });
      if (w == ws.end()) continue;  // stale: a session that grew or merged
      out(make_result(it->key, *w, trigger_kind::watermark));
      ws.erase(w);
      closed(it);
    }
    keys_.shrink_if_sparse();
  }

  template <class Out>
  void add_fixed(const Key& k, std::uint64_t h, const value_type& v, stamp s, Out& out) {
    windows& ws = keys_.find_or_insert(k, h).value;
    if (spec_.kind == window_kind::tumbling) {
      // Events of a batch mostly share a window: its bounds are worked out once per change.
      if (s.time_ms < tumbling_start_ || s.time_ms >= tumbling_end_) {
        tumbling_start_ = last_window_start(spec_, s.time_ms);
        tumbling_end_ = tumbling_start_ + spec_.size_ms;
      }
      auto w = ws.begin();
      while (w != ws.end() && w->start != tumbling_start_) ++w;
      if (w == ws.end()) w = open_window(k, ws, tumbling_start_, tumbling_end_);
      add_to(k, *w, v, s, out);
      return;
    }
    const std::int64_t step = spec_.kind == window_kind::sliding ? spec_.slide_ms : spec_.size_ms;
    const std::int64_t last = last_window_start(spec_, s.time_ms);
    for (std::int64_t start = first_window_start(spec_, s.time_ms); start <= last; start += step) {
      auto w = std::find_if(ws.begin(), ws.end(), [&](const window& x) { return x.start == start; });
      if (w == ws.end()) w = open_window(k, ws, start, start + spec_.size_ms);
      add_to(k, *w, v, s, out);
    }
  }

  template <class Out>
  void add_session(const Key& k, std::uint64_t h, const value_type& v, stamp s, Out& out) {
    windows& ws = keys_.find_or_insert(k, h).value;
    window merged{s.time_ms, s.time_ms + spec_.gap_ms, agg_.init()};
    // Every open session the new one overlaps joins it (sessions of one key never overlap).
    auto overlaps = [&](const window& w) { return w.start < merged.end && merged.start < w.end; };
    std::size_t joined = 0;
    for (window& w : ws) {
      if (!overlaps(w)) continue;
      merged.start = std::min(merged.start, w.start);
      merged.end = std::max(merged.end, w.end);
      agg_.merge(merged.acc, std::move(w.acc));
      merged.n += w.n;
      w.n = std::numeric_limits<std::uint64_t>::max();  // marks it joined
      ++joined;
    }
    ws.erase(std::remove_if(ws.begin(), ws.end(), [](const window& w) { return w.n == std::numeric_limits<std::uint64_t>::max(); }), ws.end());
    count_open(1 - static_cast<std::int64_t>(joined));
    open_ = open_ + 1 - joined;
    due_.push({merged.end, merged.start, k});
    auto at = std::lower_bound(ws.begin(), ws.end(), merged.start, [](const window& w, std::int64_t x) { return w.start < x; });
    auto w = ws.insert(at, std::move(merged));
    add_to(k, *w, v, s, out);
  }

  template <class Out>
  void add_counted(const Key& k, std::uint64_t h, const value_type& v, stamp s, Out& out) {
    key_entry* it = &keys_.find_or_insert(k, h);
    windows& ws = it->value;
    if (ws.empty()) open_window(k, ws, s.time_ms, s.time_ms, false);
    window& w = ws.front();
    w.start = std::min(w.start, s.time_ms);
    w.end = std::max(w.end, s.time_ms);
    add_to(k, w, v, s, out);
    if (w.n < spec_.count) return;
    out(make_result(it->key, w, trigger_kind::count));
    ws.clear();
    closed(it);
  }

  typename windows::iterator open_window(const Key& k, windows& ws, std::int64_t start, std::int64_t end, bool timed = true) {
    ++open_;
    count_open(1);
    if (timed) due_.push({end, start, k});
    auto at = std::lower_bound(ws.begin(), ws.end(), start, [](const window& w, std::int64_t x) { return w.start < x; });
    return ws.insert(at, window{start, end, agg_.init()});
  }

  template <class Out>
  void add_to(const Key& k, window& w, const value_type& v, stamp s, Out& out) {
    agg_.add(w.acc, v, s);
    ++w.n;
    w.changed = true;
    changed_ = true;
    if (spec_.every_events != 0 && w.n % spec_.every_events == 0 &&
        !(spec_.kind == window_kind::count && w.n == spec_.count)) {
      out(make_result(k, w, trigger_kind::every_events));
    }
  }

  result_type make_result(const Key& k, const window& w, trigger_kind why) {
    if (metrics_) metrics_->results.fetch_add(1, std::memory_order_relaxed);
    return result_type{k, w.start, w.end, agg_.result(w.acc), w.n, why};
  }

  /// The times add's fast path takes: [fast_from_, fast_until_), for a tumbling spec in event
  /// time without every_events. Such a time is in the window of the latest event's time (whose
  /// bounds are tumbling_start_/end_), within the clamp (clamp_time changes nothing), at or past
  /// the watermark (not late: the watermark stays below that window's end, as every event in the
  /// range is), and below the earliest open window's end plus the allowed lateness (it closes
  /// nothing). Called wherever those change outside the fast path: the general path (which ends
  /// in advance_to) and close_all.
  void refresh_fast() noexcept {
    if (spec_.kind != window_kind::tumbling || spec_.time != time_base::event || spec_.every_events != 0) return;
    fast_from_ = std::max({tumbling_start_, watermark_, -max_time_ms});
    fast_until_ = std::min(tumbling_end_, max_time_ms + 1);
    if (!due_.empty()) fast_until_ = std::min(fast_until_, due_.top().end + spec_.allowed_lateness_ms);
  }

  /// After windows of `it` closed: its state goes once it has none.
  void closed(key_entry* it) {
    --open_;
    count_open(-1);
    if (it->value.empty()) keys_.erase(it);
  }

  void count_open(std::int64_t delta) noexcept {
    if (metrics_ && delta != 0) metrics_->open_windows.fetch_add(delta, std::memory_order_relaxed);
  }

  window_spec spec_;
  Agg agg_;
  std::shared_ptr<window_metrics> metrics_;
  key_map keys_;
  std::priority_queue<due, std::vector<due>, std::greater<>> due_;
  std::size_t open_ = 0;
  bool changed_ = false;  // some window changed since emit_changed
  std::uint64_t seq_ = 0;
  std::int64_t newest_ = std::numeric_limits<std::int64_t>::min();
  std::int64_t watermark_ = std::numeric_limits<std::int64_t>::min();
  // Tumbling: the bounds of the window of the latest event's time (none yet: an empty range).
  std::int64_t tumbling_start_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t tumbling_end_ = std::numeric_limits<std::int64_t>::min();
  // add's fast path (refresh_fast): none until a first event has set the bounds.
  std::int64_t fast_from_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t fast_until_ = std::numeric_limits<std::int64_t>::min();
};

}  // namespace sluice::flow
