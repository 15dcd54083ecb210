// sluice/stage/broadcast_dispatcher.hpp: every event to every consumer, at the slowest one's pace.
#pragma once

#include <algorithm>
#include <any>
#include <cstddef>
#include <functional>
#include <iterator>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/stage/dispatcher.hpp>

namespace sluice {

/// GenStage's BroadcastDispatcher (its docs): every consumer gets every event its selector
/// accepts, and no consumer gets more than it asked for, so the slowest consumer sets the pace.
///
/// Demand. Each consumer keeps its own counter; whatever part of the demand *all* of them share
/// is moved into `waiting` (how many events may be dispatched now, which is what `outstanding()`
/// reports). Upstream demand is `waiting - requested` when positive, `requested` being demand
/// already sent upstream and not delivered yet. A consumer that subscribes joins with 0, which
/// hands `waiting` back to the others' counters; without `requested` its first ask would make the
/// producer produce those events a second time (GenStage #318, fixed the same way in 1.3.2).
/// A consumer that never asks holds everybody back; when it leaves, the minimum is recomputed and
/// the cancel itself returns upstream demand.
///
/// Selectors. `subscription_options::selector` may hold a `selector` (below); an empty `any` or
/// an empty function accepts everything, anything else refuses the subscription with
/// `bad_selector`. An event a selector rejects still uses up the common demand, so it is given
/// back to that consumer as demand (GenStage #133: otherwise a selector that rejects everything
/// stalls the pipeline). GenStage does this with an ask the producer sends itself; a dispatcher
/// cannot, so the giving-back happens inside `dispatch`: the consumer's counter grows by what it
/// rejected, the new common minimum moves into `waiting`, and the same dispatch goes on with the
/// events left in the batch (the ones GenStage would first put in the buffer). If that leaves
/// `waiting` above `requested`, the difference is upstream demand that no call has returned yet:
/// the next `ask` or `cancel` returns it, and the stage collects it after every message through
/// `take_upstream()`, the way GenStage's self-sent ask does.
///
/// Events are copied, one copy per consumer but the last, which gets the originals (moved);
/// hence copyable events, checked at compile time. A selector runs in the producer's process; if
/// it throws, the producer stops. Sends that would be empty are skipped (GenStage sends `[]`).
/// The same process subscribing twice is refused with `already_subscribed`.
///
/// Called only from inside the owning producer's process.
template <class T>
class broadcast_dispatcher final : public dispatcher<T> {
  static_assert(std::is_copy_constructible_v<T>,
                "broadcast_dispatcher needs copyable events: every consumer gets its own copy");

 public:
  /// What `subscription_options::selector` holds: true for the events this consumer wants.
  using selector = std::function<bool(const T&)>;

  dispatcher_subscribed subscribe(const subscription_options& opts, const consumer_ref& c) override {
    if (std::any_of(consumers_.begin(), consumers_.end(), [&](const entry& e) { return e.ref.consumer == c.consumer; })) {
      return dispatcher_subscribed::refuse(refusal::already_subscribed);
    }
    selector pick;
    if (opts.selector.has_value()) {
      const auto* f = std::any_cast<selector>(&opts.selector);
      if (f == nullptr) return dispatcher_subscribed::refuse(refusal::bad_selector, "expected a std::function<bool(const T&)>");
      pick = *f;
    }
    // The newcomer has asked for nothing: the common demand goes back to the others' counters.
    for (auto& e : consumers_) e.demand += waiting_;
    waiting_ = 0;
    consumers_.push_back(entry{c, 0, std::move(pick)});
    return {};
  }

  std::size_t ask(std::size_t n, const consumer_ref& c, dispatch_target<T>&) override {
    auto it = find(c);
    if (it == consumers_.end()) return 0;
    it->demand += n;
    share();
    return take_upstream();
  }

  std::size_t cancel(const consumer_ref& c, dispatch_target<T>&) override {
    auto it = find(c);
    if (it == consumers_.end()) return 0;
    consumers_.erase(it);
    if (consumers_.empty()) {
      // Nobody to send to. `requested` stays: those events are still coming, and will be buffered.
      waiting_ = 0;
      return 0;
    }
    share();  // the one that left may have been the one everybody waited for
    return take_upstream();
  }

  void dispatch(std::vector<T>& events, dispatch_target<T>& out) override {
    std::size_t offset = 0;
    while (waiting_ > 0 && offset < events.size()) {
      const std::size_t n = std::min(waiting_, events.size() - offset);
      waiting_ -= n;
      requested_ -= std::min(requested_, n);
      deliver(events, offset, n, out);
      offset += n;
      share();  // what the selectors rejected came back as demand
    }
    events.erase(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(offset));
  }

  /// Events that came from upstream without being placed (buffered or dropped): no longer
  /// awaited; asked for again through take_upstream if the consumers still want them.
  void not_coming(std::size_t n) noexcept override { requested_ -= std::min(requested_, n); }

  /// The common demand: how many events a dispatch can place now.
  [[nodiscard]] std::size_t outstanding() const noexcept override { return waiting_; }

  /// Upstream demand not returned by any call yet: common demand beyond what was requested. After
  /// `ask` and `cancel` it is 0; after a `dispatch` whose selectors rejected events it may not be.
  /// Reporting it counts it as requested, so it is never returned twice.
  [[nodiscard]] std::size_t take_upstream() noexcept override {
    if (waiting_ <= requested_) return 0;
    const std::size_t more = waiting_ - requested_;
    requested_ = waiting_;
    return more;
  }

 private:
  struct entry {
    consumer_ref ref;
    std::size_t demand;  // this consumer's demand beyond the common `waiting_`
    selector pick;       // empty: every event
  };

  typename std::vector<entry>::iterator find(const consumer_ref& c) {
    return std::find_if(consumers_.begin(), consumers_.end(), [&](const entry& e) { return e.ref == c; });
  }

  /// Moves the demand every consumer has into `waiting_`.
  void share() noexcept {
    if (consumers_.empty()) return;
    const auto least = std::min_element(consumers_.begin(), consumers_.end(),
                                        [](const entry& a, const entry& b) { return a.demand < b.demand; });
    const std::size_t common = least->demand;
    if (common == 0) return;
    for (auto& e : consumers_) e.demand -= common;
    waiting_ += common;
  }

  /// Sends events[from, from + n) to every consumer its selector lets through: copies for all but
  /// the last consumer, which gets the originals. A rejected event is given back as demand.
  void deliver(std::vector<T>& events, std::size_t from, std::size_t n, dispatch_target<T>& out) {
    const auto first = events.begin() + static_cast<std::ptrdiff_t>(from);
    const auto last = first + static_cast<std::ptrdiff_t>(n);
    for (std::size_t i = 0; i < consumers_.size(); ++i) {
      entry& e = consumers_[i];
      const bool originals = i + 1 == consumers_.size();
      std::vector<T> batch;
      if (!e.pick) {
        if (originals) {
          batch.assign(std::make_move_iterator(first), std::make_move_iterator(last));
        } else {
          batch.assign(first, last);
        }
      } else {
        for (auto it = first; it != last; ++it) {
          if (!e.pick(std::as_const(*it))) {
            ++e.demand;
          } else if (originals) {
            batch.push_back(std::move(*it));
          } else {
            batch.push_back(*it);
          }
        }
      }
      if (!batch.empty()) out.send(e.ref, std::move(batch));
    }
  }

  std::vector<entry> consumers_;
  std::size_t waiting_ = 0;    // common demand: what every consumer still wants
  std::size_t requested_ = 0;  // demand sent upstream and not delivered yet
};

}  // namespace sluice
