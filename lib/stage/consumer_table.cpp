#include <algorithm>
#include <iterator>
#include <utility>

#include <sluice/stage/detail/consumer_table.hpp>

namespace sluice::detail {

void consumer_table::add(std::uint64_t ref, consumer_entry c) { entries_.emplace(ref, c); }

consumer_entry consumer_table::take(std::uint64_t ref) {
  const consumer_entry c = entries_.at(ref);
  entries_.erase(ref);
  std::erase_if(parked_, [&](const parked_subscription& p) { return p.subscribe.ref == ref; });
  return c;
}

std::optional<std::uint64_t> consumer_table::by_monitor(const monitor_ref& m) const {
  for (const auto& [ref, c] : entries_) {
    if (c.monitor == m) return ref;
  }
  return std::nullopt;
}

void consumer_table::park(const stage_subscribe& s, std::uint64_t holder) {
  parked_.push_back(parked_subscription{s, holder, 0});
}

bool consumer_table::ask_parked(std::uint64_t ref, std::size_t n) {
  const auto it = std::find_if(parked_.begin(), parked_.end(), [&](const auto& p) { return p.subscribe.ref == ref; });
  if (it == parked_.end()) return false;
  it->asked += n;
  return true;
}

std::vector<parked_subscription> consumer_table::unpark(std::uint64_t holder) {
  std::vector<parked_subscription> out;
  const auto behind = [&](const parked_subscription& p) { return p.holder == holder; };
  std::copy_if(std::make_move_iterator(parked_.begin()), std::make_move_iterator(parked_.end()), std::back_inserter(out),
               behind);
  std::erase_if(parked_, behind);
  return out;
}

}  // namespace sluice::detail
