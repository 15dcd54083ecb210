// sluice/stage/demand_dispatcher.hpp: each event to one consumer, the one that wants most.
#pragma once

#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <random>
#include <utility>
#include <vector>

#include <sluice/stage/dispatcher.hpp>

namespace sluice {

/// GenStage's DemandDispatcher: consumers are kept ordered by outstanding demand, highest first
/// (equal demands in arrival order); a dispatch fills the head consumer, re-inserts it with what
/// it still wants, and goes on with the new head. Demand of a consumer that leaves becomes
/// `pending`: the producer already owes those events, so later asks take from it before asking
/// upstream again.
template <class T>
class demand_dispatcher final : public dispatcher<T> {
 public:
  struct options {
    /// Shuffle the consumers once, at the first dispatch, so the first to subscribe is not always
    /// served first. Only consumers with equal demand trade places: GenStage shuffles the whole
    /// list, so a consumer that has not asked yet can land first and hold the dispatch back (the
    /// events wait in the buffer until it asks, forever if it never does); here the one with the
    /// most outstanding demand is still served first.
    bool shuffle_demands_on_first_dispatch = false;
    /// The largest `max_demand` a consumer may subscribe with: a greedy consumer with a bigger one
    /// would take more than its share (GenStage only warns at the first bigger ask); a
    /// subscription over it is refused with bad_opts. Empty: any.
    std::optional<std::size_t> max_demand{};
  };

  demand_dispatcher() = default;
  explicit demand_dispatcher(options o) : shuffle_(o.shuffle_demands_on_first_dispatch), max_demand_(o.max_demand) {}

  dispatcher_subscribed subscribe(const subscription_options& o, const consumer_ref& c) override {
    if (max_demand_ && o.max_demand > *max_demand_) {
      return dispatcher_subscribed::refuse(refusal::bad_opts, "expected max_demand to be equal to or less than " +
                                                                  std::to_string(*max_demand_) + " (the dispatcher's max_demand), got: " +
                                                                  std::to_string(o.max_demand));
    }
    demands_.push_back({c, 0});
    return {};
  }

  std::size_t ask(std::size_t n, const consumer_ref& c, dispatch_target<T>&) override {
    auto it = find(c);
    if (it == demands_.end()) return 0;
    entry e{c, it->demand + n};
    demands_.erase(it);
    insert(e);
    const std::size_t from_pending = std::min(pending_, n);
    pending_ -= from_pending;
    return n - from_pending;
  }

  std::size_t cancel(const consumer_ref& c, dispatch_target<T>&) override {
    auto it = find(c);
    if (it != demands_.end()) {
      pending_ += it->demand;
      demands_.erase(it);
    }
    return 0;
  }

  void dispatch(std::vector<T>& events, dispatch_target<T>& out) override {
    if (shuffle_) {
      shuffle_ = false;
      std::shuffle(demands_.begin(), demands_.end(), std::minstd_rand{std::random_device{}()});
      std::stable_sort(demands_.begin(), demands_.end(), [](const entry& a, const entry& b) { return a.demand > b.demand; });
    }
    std::size_t offset = 0;
    while (offset < events.size() && !demands_.empty() && demands_.front().demand > 0) {
      entry head = demands_.front();
      demands_.erase(demands_.begin());
      const std::size_t take = std::min(head.demand, events.size() - offset);
      if (offset == 0 && take == events.size()) {
        out.send(head.consumer, std::move(events));  // the common case: the whole batch, no copy
        events.clear();
      } else {
        std::vector<T> part(std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(offset)),
                            std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(offset + take)));
        out.send(head.consumer, std::move(part));
      }
      offset += take;
      head.demand -= take;
      insert(head);
    }
    if (offset > 0 && !events.empty()) events.erase(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(offset));
    // Events nobody wanted reduce what the producer is still thought to owe.
    pending_ -= std::min(pending_, events.size());
  }

  [[nodiscard]] std::size_t outstanding() const noexcept override {
    std::size_t total = 0;
    for (auto& e : demands_) total += e.demand;
    return total;
  }

 private:
  struct entry {
    consumer_ref consumer;
    std::size_t demand;
  };

  typename std::vector<entry>::iterator find(const consumer_ref& c) {
    return std::find_if(demands_.begin(), demands_.end(), [&](const entry& e) { return e.consumer == c; });
  }
  /// Before the first entry with strictly smaller demand: highest first, ties in arrival order.
  void insert(const entry& e) {
    auto at = std::find_if(demands_.begin(), demands_.end(), [&](const entry& x) { return x.demand < e.demand; });
    demands_.insert(at, e);
  }

  std::vector<entry> demands_;
  std::size_t pending_ = 0;
  bool shuffle_ = false;
  std::optional<std::size_t> max_demand_;
};

}  // namespace sluice
