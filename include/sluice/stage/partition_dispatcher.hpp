// sluice/stage/partition_dispatcher.hpp: each event to the one consumer of its partition.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sluice/stage/dispatcher.hpp>

namespace sluice {

/// GenStage's PartitionDispatcher (its docs): a hash function sends each event to one
/// partition, and each partition has at most one consumer (the subscription's
/// `subscription_options::partition`).
///
/// Subscriptions. A subscription whose partition is missing, unknown or already taken is refused
/// (`partition_required`, `unknown_partition 7`, `partition_taken 1`), so the consumer gets the
/// cancel and the producer lives on. A partition taken by a consumer that has exited, whose DOWN
/// the producer has not handled yet, is not refused: the producer stage keeps the subscription
/// waiting and subscribes it again once that DOWN frees the partition. GenStage raises inside the producer instead, which takes the
/// producer and its other consumers down for one consumer's mistake; refusing is the kinder of
/// the two choices the reference leaves open.
///
/// Demand. `waiting` counts the events the consumers asked for and the producer has not placed
/// yet; it is what `outstanding()` reports, because a dispatch places that many events, into a
/// consumer or into a partition queue. Each ask goes upstream in full, even when the partition's
/// queue will serve it (the producer cannot tell which partition needs data), except for what the
/// `pending` counter covers: the demand of consumers that left, which the producer owes already.
///
/// Queues. Events hashed to a partition without demand, or without a consumer yet, wait in that
/// partition's queue inside the dispatcher (counted by `held()`, not by the producer's buffer).
/// When the partition asks, its queue is drained first, in order. A cancel discards the
/// partition's queue and asks upstream for as many events again, as GenStage does. GenStage's
/// queues are unbounded: while one partition has no consumer, or one that stopped asking, the
/// others keep the producer going and that queue grows without end. Here, once a queue holds
/// `max_queued` events (10,000 by default; 0 for no limit), upstream demand is held back until
/// no queue is that full: the slowest partition then paces the others, as the slowest consumer
/// paces a broadcast, and a queue holds at most max_queued plus the demand already asked.
///
/// Hash. `hash_function` returns the partition, or nullopt to discard the event (GenStage's
/// `:none`; discarded events do not use up demand). Unlike GenStage's it cannot rewrite the event:
/// transform in a producer_consumer upstream. An unknown partition is a bug in the hash, so the
/// dispatch throws and the producer stops, as in GenStage. The default, only for a count of
/// partitions and hashable events, is `std::hash<T>` modulo the count. For partitions by count,
/// `index_function` is the fast form: it returns the partition's number directly, or `discard`
/// (no partition_id built per event: about 3x faster on int64 events).
///
/// Events are moved, never copied: move-only events work.
///
/// Infos. An info (and so `stop_after_dispatch`) is held behind the events of every partition
/// queue that is not empty, and released once the last of them has passed it (sent or discarded
/// by a cancel); with no queued events it goes at once.
///
/// Called only from inside the owning producer's process.
template <class T>
class partition_dispatcher final : public dispatcher<T> {
 public:
  /// The partition an event goes to, or nullopt to discard it.
  using hash_function = std::function<std::optional<partition_id>(const T&)>;
  /// Partitions by count only: the number of the partition an event goes to, or `discard`.
  using index_function = std::function<std::size_t(const T&)>;
  static constexpr std::size_t discard = static_cast<std::size_t>(-1);

  /// Partitions by count only, the fast form: the partition (or `discard`) of every event of a
  /// batch at once, into `out` (as long as `events`). It sees every event a dispatch is offered,
  /// including those that then stay in the producer's buffer for want of demand. Made from any
  /// callable of that shape, or with `each`, which also lets a dispatch route and copy plain
  /// events in one pass with the per-event function inlined.
  class batch_index_function {
   public:
    batch_index_function() = default;
    template <class F>
      requires std::is_invocable_v<F&, std::span<const T>, std::span<std::size_t>>
    batch_index_function(F f) : route_(std::move(f)) {}  // NOLINT: implicit, as a std::function

    explicit operator bool() const noexcept { return static_cast<bool>(route_); }
    void operator()(std::span<const T> events, std::span<std::size_t> out) const { route_(events, out); }

   private:
    friend class partition_dispatcher;
    /// Copies each event to `*cursors[p]++` for its partition p below `count`, skipping discarded
    /// ones; stops at an event for an unknown partition and returns that number (else `discard`).
    using gather_function = std::function<std::size_t(std::span<const T> events, T** cursors, std::size_t count)>;
    std::function<void(std::span<const T>, std::span<std::size_t>)> route_;
    gather_function gather_;
  };

  /// A batch_index_function applying `f` (a per-event index function) to each event; `f` is
  /// called directly, not through a std::function, so the loops can be inlined and vectorised.
  template <class F>
  static batch_index_function each(F f) {
    batch_index_function b([f](std::span<const T> events, std::span<std::size_t> out) {
      for (std::size_t k = 0; k < events.size(); ++k) out[k] = f(events[k]);
    });
    if constexpr (std::is_trivially_copyable_v<T>) {
      b.gather_ = [f = std::move(f)](std::span<const T> events, T** cursors, std::size_t count) {
        for (const T& e : events) {
          const std::size_t i = f(e);
          if (i < count) {
            *cursors[i]++ = e;
          } else if (i != discard) {
            return i;
          }
        }
        return discard;
      };
    }
    return b;
  }

  struct options {
    /// Partitions named 0..N-1 (GenStage's `partitions: n`); leave 0 when giving `names`.
    std::size_t partitions = 0;
    /// Partitions by name (GenStage's `partitions: [names]`); needs `hash`.
    std::vector<partition_id> names{};
    /// Required with `names`; with a count the default is std::hash<T> modulo the count.
    hash_function hash{};
    /// With a count, instead of `hash` (give one of the three).
    index_function index{};
    /// With a count, instead of `hash`: the fast form (see `each`).
    batch_index_function batch_index{};
    /// Events one partition's queue may hold before the dispatcher stops asking upstream; 0 for
    /// no limit (GenStage's behaviour). See "Queues" above.
    std::size_t max_queued = 10000;
  };

  /// Throws std::invalid_argument unless exactly one of `partitions` and `names` is given, the
  /// names are distinct, and there is a hash (given, or std::hash<T> for a count).
  explicit partition_dispatcher(options o)
      : hash_(std::move(o.hash)), batch_(std::move(o.batch_index)), max_queued_(o.max_queued) {
    if ((o.partitions == 0) == o.names.empty()) {
      throw std::invalid_argument("partition_dispatcher: give either a count of partitions or their names");
    }
    if (int{static_cast<bool>(hash_)} + int{static_cast<bool>(o.index)} + int{static_cast<bool>(batch_)} > 1 ||
        ((o.index || batch_) && o.partitions == 0)) {
      throw std::invalid_argument("partition_dispatcher: give one of hash, index and batch_index; the last two go with a count");
    }
    if (o.index) batch_ = each(std::move(o.index));
    // Made at their final size: a partition is not nothrow-movable (std::deque), so a growing
    // vector would want to copy it, which move-only events forbid.
    parts_ = std::vector<partition>(o.partitions != 0 ? o.partitions : o.names.size());
    if (o.partitions != 0) {
      by_count_ = true;
      if (!hash_ && !batch_) batch_ = default_index(o.partitions);
      return;
    }
    if (!hash_) throw std::invalid_argument("partition_dispatcher: named partitions need a hash function");
    for (std::size_t i = 0; i < o.names.size(); ++i) {
      if (!index_.emplace(o.names[i], i).second) {
        throw std::invalid_argument("partition_dispatcher: partition " + to_string(o.names[i]) + " is named twice");
      }
    }
  }

  dispatcher_subscribed subscribe(const subscription_options& opts, const consumer_ref& c) override {
    if (!opts.partition) return dispatcher_subscribed::refuse(refusal::partition_required);
    const auto i = index_of(*opts.partition);
    if (!i) return dispatcher_subscribed::refuse(refusal::unknown_partition, to_string(*opts.partition));
    partition& p = parts_[*i];
    if (p.consumer) return dispatcher_subscribed::refuse(refusal::partition_taken, to_string(*opts.partition), p.consumer);
    p.consumer = c;  // it inherits the queue of events that waited for it
    owners_.emplace(c.id, *i);
    return {};
  }

  std::size_t ask(std::size_t n, const consumer_ref& c, dispatch_target<T>& out) override {
    const auto owner = owners_.find(c.id);
    if (owner == owners_.end()) return 0;
    partition& p = parts_[owner->second];
    if (p.queue.empty()) {
      p.demand += n;
    } else {
      p.demand = n - send_queued(p, n, out);
    }
    const std::size_t owed = std::min(pending_, n);
    pending_ -= owed;
    waiting_ += n - owed;
    return upstream(n - owed);
  }

  std::size_t cancel(const consumer_ref& c, dispatch_target<T>& out) override {
    const auto owner = owners_.find(c.id);
    if (owner == owners_.end()) return 0;
    partition& p = parts_[owner->second];
    owners_.erase(owner);
    p.consumer.reset();
    if (p.queue.empty()) {
      pending_ += std::exchange(p.demand, 0);
      return 0;
    }
    // The queued events are lost; they had been counted as placed, so ask for as many again.
    const std::size_t lost = p.queue.size();
    p.queue.clear();
    p.popped += lost;
    release_passed(p, out);  // infos waiting behind the lost events go now
    waiting_ += lost;
    return upstream(lost);
  }


  void dispatch(std::vector<T>& events, dispatch_target<T>& out) override {
    if constexpr (std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T>) {
      if (batch_.gather_ && waiting_ >= events.size() && parts_.size() * events.size() * sizeof(T) <= scratch_limit) {
        return dispatch_all(events, out);
      }
    }
    const std::size_t routed = route(events);
    gather(events, routed);
    events.erase(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(routed));
    for (auto& p : parts_) {
      if (!p.incoming.empty()) place(p, out);
    }
  }

  /// Held behind the events of every partition queue that is not empty; at once if none is.
  std::optional<message> info(message&& msg, dispatch_target<T>&) override {
    std::size_t behind = 0;
    for (auto& p : parts_) {
      if (p.queue.empty()) continue;
      p.infos.emplace_back(p.pushed, next_ticket_);
      ++behind;
    }
    if (behind == 0) return std::optional<message>(std::move(msg));
    infos_.emplace(next_ticket_++, held_info{std::move(msg), behind});
    return std::nullopt;
  }

  /// Events waiting in partition queues.
  [[nodiscard]] std::size_t held() const noexcept override {
    std::size_t total = 0;
    for (const auto& p : parts_) total += p.queue.size();
    return total;
  }

  /// How many events a dispatch places now (into consumers or partition queues).
  [[nodiscard]] std::size_t outstanding() const noexcept override { return waiting_; }

 private:
  struct partition {
    std::optional<consumer_ref> consumer{};
    std::size_t demand = 0;     // asked and not sent; 0 whenever the queue is not empty
    std::deque<T> queue{};      // hashed here while there was no demand
    std::vector<T> incoming{};  // this dispatch's events, scratch
    std::uint64_t pushed = 0;   // events ever queued
    std::uint64_t popped = 0;   // events ever taken off the queue (sent or discarded)
    std::deque<std::pair<std::uint64_t, std::uint64_t>> infos{};  // (after `pushed`, ticket)
  };
  struct held_info {
    message msg;
    std::size_t partitions;  // queues it still waits behind
  };

  /// Whether some partition's queue has reached max_queued.
  [[nodiscard]] bool full() const noexcept {
    return max_queued_ != 0 &&
           std::any_of(parts_.begin(), parts_.end(), [&](const partition& p) { return p.queue.size() >= max_queued_; });
  }
  /// `n` more events to ask upstream: held back while a queue is full, else with what was held
  /// before. Queues shrink only in ask and cancel, which return this, so nothing stays held.
  std::size_t upstream(std::size_t n) noexcept {
    if (full()) {
      deferred_ += n;
      return 0;
    }
    return n + std::exchange(deferred_, 0);
  }

  /// Releases the infos every event queued before which has left `p`'s queue.
  void release_passed(partition& p, dispatch_target<T>& out) {
    while (!p.infos.empty() && p.infos.front().first <= p.popped) {
      const auto it = infos_.find(p.infos.front().second);
      p.infos.pop_front();
      if (--it->second.partitions == 0) {
        out.release_info(std::move(it->second.msg));
        infos_.erase(it);
      }
    }
  }

  static batch_index_function default_index(std::size_t count) {
    if constexpr (requires(const T& e) { std::hash<T>{}(e); }) {
      return each([count](const T& e) { return std::hash<T>{}(e) % count; });
    } else {
      throw std::invalid_argument("partition_dispatcher: these events have no std::hash; give a hash function");
    }
  }

  static constexpr std::size_t discarded = discard;
  /// dispatch_all's scratch area (a batch's size per partition) is kept at most this big; larger
  /// dispatches (huge batches, many partitions) take the two-pass route, which needs none.
  static constexpr std::size_t scratch_limit = std::size_t{1} << 20;
  static constexpr std::size_t unrouted = discard;  // route_ of a discarded event

  /// Pass one of a dispatch: the partition of each event, as far as the demand goes (discarded
  /// events do not use it up), into route_, and how many go to each partition into counts_.
  /// Returns how many events it routed.
  std::size_t route(const std::vector<T>& events) {
    counts_.assign(parts_.size(), 0);
    if (!batch_) return route_by_hash(events);
    route_.resize(events.size());
    batch_(std::span<const T>(events), std::span<std::size_t>(route_));
    std::size_t placed = 0;
    std::size_t k = 0;
    for (; k < events.size() && placed < waiting_; ++k) {
      const std::size_t i = route_[k];
      if (i == discarded) continue;  // it does not use up demand
      if (i >= parts_.size()) {
        throw std::out_of_range("partition_dispatcher: the index function gave unknown partition " + std::to_string(i));
      }
      ++counts_[i];
      ++placed;
    }
    route_.resize(k);
    waiting_ -= placed;
    return k;
  }

  /// Pass two of a dispatch: the first `routed` events moved into their partitions' `incoming`
  /// batches, each allocated once at its exact size.
  void gather(std::vector<T>& events, std::size_t routed) {
    const std::size_t* const routes = route_.data();
    if constexpr (std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T>) {
      // Plain stores through a cursor per partition (held in a local array, not in members that
      // every store might alias): the batches are sized first, so no capacity checks.
      cursors_.resize(parts_.size());
      for (std::size_t i = 0; i < parts_.size(); ++i) {
        parts_[i].incoming.resize(counts_[i]);
        cursors_[i] = parts_[i].incoming.data();
      }
      T** const cursor = cursors_.data();
      const T* const ev = events.data();
      for (std::size_t k = 0; k < routed; ++k) {
        if (routes[k] != unrouted) *cursor[routes[k]]++ = ev[k];
      }
    } else {
      for (std::size_t i = 0; i < parts_.size(); ++i) parts_[i].incoming.reserve(counts_[i]);
      for (std::size_t k = 0; k < routed; ++k) {
        if (routes[k] != unrouted) parts_[routes[k]].incoming.push_back(std::move(events[k]));
      }
    }
  }

  /// dispatch() when the demand covers the whole batch (the usual case: a producer emits what it
  /// was asked for), the events are plain values and the index came from `each`: one pass routes
  /// each event and copies it to its partition's stretch of a scratch area kept from dispatch to
  /// dispatch; each partition's batch is then made at its exact size from there (a memcpy).
  void dispatch_all(std::vector<T>& events, dispatch_target<T>& out) {
    const std::size_t n = events.size();
    const std::size_t count = parts_.size();
    if (scratch_.size() < count * n) scratch_.resize(count * n);
    cursors_.resize(count);
    for (std::size_t i = 0; i < count; ++i) cursors_[i] = scratch_.data() + i * n;
    const std::size_t bad = batch_.gather_(std::span<const T>(events), cursors_.data(), count);
    if (bad != discard) {  // nothing was placed yet: the events stay where they are
      throw std::out_of_range("partition_dispatcher: the index function gave unknown partition " + std::to_string(bad));
    }
    events.clear();
    for (std::size_t i = 0; i < count; ++i) {
      const T* const first = scratch_.data() + i * n;
      const auto taken = static_cast<std::size_t>(cursors_[i] - first);
      if (taken == 0) continue;
      waiting_ -= taken;
      parts_[i].incoming.assign(first, first + taken);
      place(parts_[i], out);
    }
  }

  /// route() for a hash giving partition_ids, one event at a time.
  std::size_t route_by_hash(const std::vector<T>& events) {
    route_.clear();
    std::size_t placed = 0;
    while (route_.size() < events.size() && placed < waiting_) {
      const std::size_t i = destination(events[route_.size()]);
      route_.push_back(i);
      if (i == discarded) continue;
      ++counts_[i];
      ++placed;
    }
    waiting_ -= placed;
    return route_.size();
  }

  /// The index of the partition `e` goes to, or `discarded`; throws for an unknown partition.
  std::size_t destination(const T& e) const {
    const std::optional<partition_id> to = hash_(e);
    if (!to) return discarded;
    const auto i = index_of(*to);
    if (!i) throw std::out_of_range("partition_dispatcher: the hash gave unknown partition " + to_string(*to));
    return *i;
  }

  [[nodiscard]] std::optional<std::size_t> index_of(const partition_id& p) const {
    if (by_count_) {
      const auto* n = std::get_if<std::size_t>(&p);
      if (n != nullptr && *n < parts_.size()) return *n;
      return std::nullopt;
    }
    const auto it = index_.find(p);
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }

  /// A dispatch's events for `p`: straight to its consumer as far as its demand goes (and nothing
  /// is queued ahead of them), the rest behind its queue.
  void place(partition& p, dispatch_target<T>& out) {
    const std::size_t count = p.incoming.size();
    const std::size_t sent = p.queue.empty() ? std::min(p.demand, count) : 0;
    p.demand -= sent;
    if (sent < count) {
      p.pushed += count - sent;
      p.queue.insert(p.queue.end(), std::make_move_iterator(p.incoming.begin() + static_cast<std::ptrdiff_t>(sent)),
                     std::make_move_iterator(p.incoming.end()));
      p.incoming.erase(p.incoming.begin() + static_cast<std::ptrdiff_t>(sent), p.incoming.end());
    }
    if (sent > 0) out.send(*p.consumer, std::move(p.incoming));
    p.incoming.clear();
  }

  /// Sends up to `n` events from the front of `p`'s queue; returns how many.
  std::size_t send_queued(partition& p, std::size_t n, dispatch_target<T>& out) {
    const std::size_t take = std::min(n, p.queue.size());
    if (take == 0) return 0;
    std::vector<T> batch(std::make_move_iterator(p.queue.begin()),
                         std::make_move_iterator(p.queue.begin() + static_cast<std::ptrdiff_t>(take)));
    p.queue.erase(p.queue.begin(), p.queue.begin() + static_cast<std::ptrdiff_t>(take));
    out.send(*p.consumer, std::move(batch));
    p.popped += take;
    release_passed(p, out);
    return take;
  }

  hash_function hash_;
  batch_index_function batch_;  // partitions by count, unless a hash is given
  std::vector<partition> parts_;
  bool by_count_ = false;
  std::map<partition_id, std::size_t> index_;            // named partitions only
  std::unordered_map<std::uint64_t, std::size_t> owners_;  // subscription id -> partition
  std::size_t waiting_ = 0;  // asked upstream and not placed yet
  std::size_t pending_ = 0;  // demand of consumers that left: the producer owes it already
  std::size_t max_queued_;
  std::size_t deferred_ = 0;  // upstream demand held back while a queue is full
  std::map<std::uint64_t, held_info> infos_;  // by ticket
  std::vector<std::size_t> route_;    // dispatch's scratch: each event's partition, or unrouted
  std::vector<std::size_t> counts_;   // dispatch's scratch: events routed to each partition
  std::vector<T*> cursors_;           // dispatch's scratch: where each partition's next event goes
  std::vector<T> scratch_;            // dispatch_all's scratch: a stretch of a batch's size per partition
  std::uint64_t next_ticket_ = 0;
};

}  // namespace sluice
