// sluice/stage/bridges.hpp: between stages and plain C++ code (GenStage.stream/2, from_enumerable/2).
//
// - from_range: a producer over a C++ input range or a generator function (GenStage's
//   from_enumerable). It pulls exactly the demand, inside the producer's process, so a source
//   that blocks blocks the stage (start it with `spawn.dedicated_thread` then).
// - stage_stream: a blocking pull iterator over the events of one or more producers, for plain
//   threads (GenStage's stream). A consumer process inside the runtime hands batches over through
//   a mutex-guarded queue; it asks with manual demand, and the reader re-asks as it takes events,
//   so at most max_demand events per subscription are ever in flight.
#pragma once

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sluice/process/runtime.hpp>
#include <sluice/stage/callbacks.hpp>
#include <sluice/stage/options.hpp>
#include <sluice/stage/start.hpp>

namespace sluice {

// ---- from_range ----------------------------------------------------------------------------------

/// A callable taking nothing and returning a std::optional (nullopt: the end).
template <class G>
concept generator_function = std::invocable<G&> && requires { typename std::invoke_result_t<G&>::value_type; } &&
                             std::same_as<std::invoke_result_t<G&>,
                                          std::optional<typename std::invoke_result_t<G&>::value_type>>;

/// An input range that from_range may own: an rvalue (moved in, its elements then moved out) or a
/// view (copied in, its elements copied: the data it looks at must outlive the producer). An lvalue
/// container is refused rather than copied silently: pass `std::move(c)`, or `std::views::all(c)`.
template <class R>
concept ownable_range = std::ranges::input_range<std::remove_cvref_t<R>> &&
                        (!std::is_lvalue_reference_v<R> || std::ranges::view<std::remove_cvref_t<R>>);

/// What from_range takes out of an element of R: an rvalue if it owns R outright, else a reference.
template <class R>
using range_take_t = std::conditional_t<std::ranges::view<std::remove_cvref_t<R>>,
                                        std::ranges::range_reference_t<std::remove_cvref_t<R>>,
                                        std::ranges::range_rvalue_reference_t<std::remove_cvref_t<R>>>;

namespace detail {
/// Where a from_range producer pulls its items from.
template <class T>
class pull_source {
 public:
  virtual ~pull_source() = default;
  /// The next item; nullopt at the end.
  virtual std::optional<T> pull() = 0;
  /// True when the end is known without pulling again (a range's iterator at its end).
  virtual bool exhausted() { return false; }
};

template <class T, class G>
class generator_source final : public pull_source<T> {
 public:
  explicit generator_source(G g) : g_(std::move(g)) {}
  std::optional<T> pull() override { return g_(); }

 private:
  G g_;
};

template <class T, class R>
class range_source final : public pull_source<T> {
  // Elements of a range we own outright are moved out; a view's are copied (not ours to empty).
  static constexpr bool move_out = !std::ranges::view<R>;

 public:
  explicit range_source(R range) : range_(std::move(range)) {}
  std::optional<T> pull() override {
    if (exhausted()) return std::nullopt;
    std::optional<T> v;
    if constexpr (move_out) {
      v.emplace(std::ranges::iter_move(*it_));
    } else {
      v.emplace(**it_);
    }
    ++*it_;
    return v;
  }
  bool exhausted() override {
    if (!it_) it_.emplace(std::ranges::begin(range_));  // only now: the range is at its final address
    return *it_ == std::ranges::end(range_);
  }

 private:
  R range_;
  std::optional<std::ranges::iterator_t<R>> it_;
};

template <class S>
struct bridge_value;
template <class S>
  requires generator_function<S>
struct bridge_value<S> {
  using type = typename std::invoke_result_t<S&>::value_type;
};
template <class S>
  requires(!generator_function<S> && std::ranges::input_range<std::remove_cvref_t<S>>)
struct bridge_value<S> {
  using type = std::ranges::range_value_t<std::remove_cvref_t<S>>;
};
}  // namespace detail

/// The event type of a from_range built from `S` (a range or a generator function).
template <class S>
using from_range_value_t = typename detail::bridge_value<std::remove_cvref_t<S>>::type;

/// What a from_range producer does when its last consumer leaves (GenStage's from_enumerable
/// `on_cancel`): run on and wait for another (`run_on`, GenStage's :continue, the default), stop
/// `normal` at once (`stop`), or stop `normal` once what it emitted has been dispatched
/// (`stop_after_dispatch`). Only consumers that subscribed count; a producer nobody subscribed to
/// runs on.
enum class range_on_cancel : std::uint8_t { run_on, stop, stop_after_dispatch };

/// A producer over a C++ input range or a generator function (GenStage's from_enumerable).
///
/// `handle_demand(n)` pulls at most n items; when the source ends it emits the items it got and
/// stops with `normal` once everything emitted has been dispatched (a permanent consumer then
/// exits `normal` too; transient and temporary ones stay). A source that throws stops the
/// producer with `{error, what}`. The source is owned by the producer and used only inside it.
template <class T>
class from_range final : public producer<T> {
 public:
  /// From a generator function: called once per item, nullopt at the end (and not called again).
  template <generator_function G>
    requires std::same_as<from_range_value_t<G>, T>
  explicit from_range(G next, range_on_cancel on_cancel = range_on_cancel::run_on)
      : source_(std::make_unique<detail::generator_source<T, G>>(std::move(next))), on_cancel_(on_cancel) {}

  /// From a range (see ownable_range): an rvalue is moved in, a view copied.
  template <ownable_range R>
    requires(!generator_function<R> && std::constructible_from<T, range_take_t<R>>)
  explicit from_range(R&& range, range_on_cancel on_cancel = range_on_cancel::run_on)
      : source_(std::make_unique<detail::range_source<T, std::remove_cvref_t<R>>>(std::forward<R>(range))),
        on_cancel_(on_cancel) {}

  demand_kind handle_subscribe(peer_kind, const subscription_options&, subscription_ref, stage_context<T>&) override {
    ++consumers_;
    return demand_kind::automatic;
  }

  void handle_cancel(cancel_kind, const exit_reason&, subscription_ref, stage_context<T>& ctx) override {
    if (--consumers_ != 0 || on_cancel_ == range_on_cancel::run_on) return;
    if (on_cancel_ == range_on_cancel::stop) return ctx.stop(exit_reason::normal());
    ctx.stop_after_dispatch(exit_reason::normal());
  }

  void handle_demand(std::size_t demand, stage_context<T>& ctx) override {
    if (done_) return;
    for (std::size_t i = 0; i < demand && !done_; ++i) {
      if (std::optional<T> v = source_->pull()) {
        ctx.emit(std::move(*v));
      } else {
        done_ = true;
      }
    }
    if (!done_ && source_->exhausted()) done_ = true;
    if (done_) ctx.stop_after_dispatch(exit_reason::normal());
  }

 private:
  std::unique_ptr<detail::pull_source<T>> source_;
  range_on_cancel on_cancel_ = range_on_cancel::run_on;
  std::size_t consumers_ = 0;  // subscribed now
  bool done_ = false;
};

template <generator_function G>
from_range(G) -> from_range<from_range_value_t<G>>;
template <ownable_range R>
  requires(!generator_function<R>)
from_range(R&&) -> from_range<from_range_value_t<R>>;
template <generator_function G>
from_range(G, range_on_cancel) -> from_range<from_range_value_t<G>>;
template <ownable_range R>
  requires(!generator_function<R>)
from_range(R&&, range_on_cancel) -> from_range<from_range_value_t<R>>;

/// Starts a from_range producer over `source` (a range, see ownable_range, or a generator
/// function) as a process of `where`; returns its pid.
template <class Where, class Source>
  requires(ownable_range<Source> || generator_function<std::remove_cvref_t<Source>>)
pid start_from_range(Where& where, Source&& source, stage_options<from_range_value_t<Source>> options = {},
                     range_on_cancel on_cancel = range_on_cancel::run_on) {
  using T = from_range_value_t<Source>;
  if constexpr (generator_function<std::remove_cvref_t<Source>>) {
    using G = std::remove_cvref_t<Source>;
    return start(where, std::make_unique<from_range<T>>(G(std::forward<Source>(source)), on_cancel), std::move(options));
  } else {
    return start(where, std::make_unique<from_range<T>>(std::forward<Source>(source), on_cancel), std::move(options));
  }
}

// ---- stage_stream --------------------------------------------------------------------------------

/// A stage_stream ended because its consumer exited abnormally: a permanent subscription's
/// producer ended with any reason but `normal`, a transient one's with an abnormal reason, the
/// subscription was refused (`event_type_mismatch`, `noproc`...), or the consumer was killed.
class stream_error : public std::runtime_error {
 public:
  explicit stream_error(exit_reason reason)
      : std::runtime_error("stage stream ended with " + reason.to_string()), reason_(std::move(reason)) {}
  [[nodiscard]] const exit_reason& reason() const noexcept { return reason_; }

 private:
  exit_reason reason_;
};

/// Options of a stage_stream beyond its subscriptions.
struct stream_options {
  /// After subscribing, the stream sets this demand mode on `producers` (GenStage's `:demand`):
  /// `forward` releases producers started in `accumulate` mode.
  demand_mode demand = demand_mode::forward;
  /// Which processes get that demand mode; default: the producers subscribed to.
  std::optional<std::vector<pid>> producers;
};

namespace detail {
/// The hand-off between a stream's consumer process and its reader thread.
template <class T>
struct stream_channel {
  struct subscription {
    subscription_ref ref;
    std::size_t demand;  // asked and not yet taken by the reader: in flight, never above max
    std::size_t min;
    std::size_t max;
  };
  std::mutex mutex;  // guards everything below
  std::condition_variable ready;
  std::deque<std::pair<std::uint64_t, T>> items;  // subscription id, event
  std::unordered_map<std::uint64_t, subscription> subscriptions;
  std::optional<exit_reason> end;  // set once the consumer has exited

  void finish(const exit_reason& reason) {
    {
      std::lock_guard lock(mutex);
      if (end) return;
      end = reason;
    }
    ready.notify_all();
  }
};

struct stream_begin {};
struct stream_ask {
  subscription_ref from;
  std::size_t n;
};
struct stream_close {};
struct stream_check_empty {};

template <class T>
class stream_consumer final : public consumer<T> {
  using ctx_type = stage_context<no_events>;

 public:
  stream_consumer(std::shared_ptr<stream_channel<T>> channel, std::vector<pid> demand_targets, demand_mode mode,
                  bool any)
      : channel_(std::move(channel)), demand_targets_(std::move(demand_targets)), mode_(mode), any_(any) {}
  ~stream_consumer() override { channel_->finish(exit_reason::killed()); }  // terminate is skipped for killed

  void init(ctx_type& ctx) override {
    if (!any_) return ctx.stop(exit_reason::normal());
    ctx.process().send(ctx.self(), stream_begin{});  // handled once every subscription is made
  }

  demand_kind handle_subscribe(peer_kind, const subscription_options& o, subscription_ref from, ctx_type&) override {
    std::lock_guard lock(channel_->mutex);
    channel_->subscriptions[from.id] = {from, o.max_demand, o.effective_min_demand(), o.max_demand};
    return demand_kind::manual;
  }

  void handle_events(std::span<T> events, subscription_ref from, ctx_type&) override {
    {
      std::lock_guard lock(channel_->mutex);
      for (T& e : events) channel_->items.emplace_back(from.id, std::move(e));
    }
    channel_->ready.notify_all();
  }

  void handle_cancel(cancel_kind, const exit_reason&, subscription_ref from, ctx_type& ctx) override {
    std::lock_guard lock(channel_->mutex);
    channel_->subscriptions.erase(from.id);
    // If the cancel mode does not stop this consumer, end the stream once no subscription is left
    // (checked from the next message, after the mode has applied).
    if (channel_->subscriptions.empty()) ctx.process().send(ctx.self(), stream_check_empty{});
  }

  void handle_info(message& m, ctx_type& ctx) override {
    if (auto* a = m.get_if<stream_ask>()) return ctx.ask(a->from, a->n);
    if (m.is<stream_begin>()) return begin(ctx);
    if (m.is<stream_check_empty>()) {
      std::lock_guard lock(channel_->mutex);
      if (channel_->subscriptions.empty()) ctx.stop(exit_reason::normal());
      return;
    }
    if (m.is<stream_close>()) {
      std::vector<subscription_ref> refs = current();
      for (auto& r : refs) ctx.cancel(r, exit_reason::normal());
      ctx.stop(exit_reason::normal());
    }
  }

  void terminate(const exit_reason& reason, ctx_type&) override { channel_->finish(reason); }

 private:
  std::vector<subscription_ref> current() {
    std::lock_guard lock(channel_->mutex);
    std::vector<subscription_ref> refs;
    for (auto& [id, s] : channel_->subscriptions) refs.push_back(s.ref);
    return refs;
  }

  void begin(ctx_type& ctx) {
    std::vector<std::pair<subscription_ref, std::size_t>> asks;
    {
      std::lock_guard lock(channel_->mutex);
      for (auto& [id, s] : channel_->subscriptions) asks.emplace_back(s.ref, s.max);
    }
    for (auto& [ref, n] : asks) ctx.ask(ref, n);
    for (pid p : demand_targets_) ctx.process().send(p, stage_set_demand{mode_});
  }

  std::shared_ptr<stream_channel<T>> channel_;
  std::vector<pid> demand_targets_;
  demand_mode mode_;
  bool any_;
};
}  // namespace detail

/// A blocking pull iterator over the events of producers, for plain (non-process) code.
///
/// Construction spawns a consumer process in `rt` subscribed to `producers` (options validated
/// first: bad ones throw std::invalid_argument). Events of one subscription come in order; across
/// subscriptions in arrival order. The stream ends when its consumer exits: normally (every
/// subscription ended without stopping it, or a permanent one's producer ended `normal`) the
/// stream ends after the events already received; with any other reason the read after those
/// events throws stream_error carrying it. Cancel modes apply as for any consumer.
///
/// Destroying the stream cancels its subscriptions (`normal`) and makes the consumer exit; it does
/// not wait for that. The reading functions block: call them from plain threads only, never from
/// a process of `rt`, and from one thread at a time. Destroy the stream before `rt`.
template <class T>
class stage_stream {
  using clock = std::chrono::steady_clock;

 public:
  /// The input iterator of `for (auto& v : stream)`; `++` blocks for the next event (and may throw
  /// stream_error). The event referred to lives in the stream until the next increment.
  class iterator {
   public:
    using iterator_concept = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    T& operator*() const { return *s_->current_; }
    T* operator->() const { return &*s_->current_; }
    iterator& operator++() {
      s_->current_ = s_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return it.at_end(); }

   private:
    [[nodiscard]] bool at_end() const noexcept { return !s_->current_; }
    friend class stage_stream;
    explicit iterator(stage_stream* s) : s_(s) {}
    stage_stream* s_ = nullptr;
  };

  stage_stream(runtime& rt, std::vector<subscribe_to> producers, stream_options options = {})
      : rt_(&rt), channel_(std::make_shared<detail::stream_channel<T>>()) {
    for (auto& p : producers) {
      if (auto bad = p.options.validate()) {
        throw std::invalid_argument("invalid options for producer " + p.producer.to_string() + " (" + *bad + ")");
      }
    }
    std::vector<pid> targets;
    if (options.producers) {
      targets = std::move(*options.producers);
    } else {
      for (auto& p : producers) targets.push_back(p.producer);
    }
    const bool any = !producers.empty();
    stage_options<no_events> stage;
    stage.subscribe_to = std::move(producers);
    consumer_ = start(rt, std::make_unique<detail::stream_consumer<T>>(channel_, std::move(targets), options.demand, any),
                      std::move(stage));
  }
  ~stage_stream() { rt_->send(consumer_, detail::stream_close{}); }
  stage_stream(const stage_stream&) = delete;
  stage_stream& operator=(const stage_stream&) = delete;

  /// The next event, blocking until there is one; nullopt once the stream has ended normally.
  /// Throws stream_error when it ended abnormally (after the events received before that).
  std::optional<T> next() { return take(std::nullopt); }
  /// The same, waiting at most `timeout`: nullopt also when nothing came in time (see `done`).
  std::optional<T> next(clock::duration timeout) { return take(clock::now() + timeout); }

  /// True once the stream has ended normally and every event has been taken (racy until then).
  [[nodiscard]] bool done() const {
    std::lock_guard lock(channel_->mutex);
    return channel_->items.empty() && channel_->end && channel_->end->is_normal();
  }
  /// The consumer process behind the stream (to watch it, for example).
  [[nodiscard]] pid consumer() const noexcept { return consumer_; }

  /// Takes the first event (blocking) the first time it is called.
  iterator begin() {
    if (!started_) {
      started_ = true;
      current_ = next();
    }
    return iterator(this);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  std::optional<T> take(std::optional<clock::time_point> deadline) {
    std::unique_lock lock(channel_->mutex);
    const auto ready = [&] { return !channel_->items.empty() || channel_->end.has_value(); };
    if (deadline) {
      if (!channel_->ready.wait_until(lock, *deadline, ready)) return std::nullopt;
    } else {
      channel_->ready.wait(lock, ready);
    }
    if (channel_->items.empty()) {
      if (channel_->end->is_normal()) return std::nullopt;
      throw stream_error(*channel_->end);
    }
    auto [id, value] = std::move(channel_->items.front());
    channel_->items.pop_front();
    const std::optional<detail::stream_ask> ask = taken(id);
    lock.unlock();
    if (ask) rt_->send(consumer_, *ask);
    return std::move(value);
  }

  /// The reader took one event of subscription `id`: GenStage's re-ask rule (GenStage docs: max_demand, min_demand), one
  /// event at a time. Called with the channel locked.
  std::optional<detail::stream_ask> taken(std::uint64_t id) {
    auto it = channel_->subscriptions.find(id);
    if (it == channel_->subscriptions.end()) return std::nullopt;
    auto& s = it->second;
    --s.demand;
    if (s.demand > s.min) return std::nullopt;
    const std::size_t n = s.max - s.demand;
    s.demand = s.max;
    return detail::stream_ask{s.ref, n};
  }

  runtime* rt_;
  std::shared_ptr<detail::stream_channel<T>> channel_;
  pid consumer_;
  std::optional<T> current_;
  bool started_ = false;
};

}  // namespace sluice
