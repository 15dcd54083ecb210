#include <utility>

#include <sluice/stage/detail/info_queue.hpp>

namespace sluice::detail {

void info_queue::push(std::uint64_t after, message msg) { markers_.push_back(marker{after, std::move(msg)}); }

message info_queue::pop() {
  message msg = std::move(markers_.front().msg);
  markers_.pop_front();
  return msg;
}

}  // namespace sluice::detail
