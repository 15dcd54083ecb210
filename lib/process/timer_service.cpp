#include "process/timer_service.hpp"

#include <algorithm>
#include <vector>

namespace sluice::internal {

timer_service::timer_service(deliver_fn deliver, bool virtual_time)
    : deliver_(std::move(deliver)), virtual_time_(virtual_time) {}

timer_service::~timer_service() { stop(); }

timer_service::clock::time_point timer_service::deadline_after(clock::time_point now, clock::duration delay) {
  if (delay <= clock::duration::zero()) return now;
  // now is after the epoch, so max() - now does not overflow; now + delay would.
  if (delay >= clock::time_point::max() - now) return clock::time_point::max();
  return now + delay;
}

std::uint64_t timer_service::start(pid to, detail::message_node* node, clock::duration delay) {
  std::unique_lock lock(mutex_);
  const auto due = deadline_after(virtual_time_ ? virtual_now_ : clock::now(), delay);
  if (stopping_) {
    node->destroy();
    return 0;
  }
  const std::uint64_t id = next_id_++;
  const bool earliest = queue_.empty() || due < queue_.begin()->first.first;
  queue_.emplace(key{due, id}, entry{to, node});
  due_of_.emplace(id, due);
  if (virtual_time_) return id;  // advance_to delivers it
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  lock.unlock();
  if (earliest) wake_.notify_one();
  return id;
}

bool timer_service::cancel(std::uint64_t id) {
  detail::message_node* node = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto it = due_of_.find(id);
    if (it == due_of_.end()) return false;
    auto q = queue_.find(key{it->second, id});
    node = q->second.node;
    queue_.erase(q);
    due_of_.erase(it);
  }
  node->destroy();
  return true;
}

void timer_service::stop() {
  std::thread t;
  std::map<key, entry> left;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    t = std::move(thread_);
    left.swap(queue_);
    due_of_.clear();
  }
  wake_.notify_all();
  if (t.joinable()) t.join();
  for (auto& [k, e] : left) e.node->destroy();
}

timer_service::clock::time_point timer_service::now() const {
  if (!virtual_time_) return clock::now();
  std::lock_guard lock(mutex_);
  return virtual_now_;
}

timer_service::clock::time_point timer_service::next_due() const {
  std::lock_guard lock(mutex_);
  return queue_.empty() ? clock::time_point::max() : queue_.begin()->first.first;
}

bool timer_service::advance_to(clock::time_point target) {
  std::vector<entry> fired;
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty() || queue_.begin()->first.first > target) {
      virtual_now_ = std::max(virtual_now_, target);
      return false;
    }
    virtual_now_ = std::max(virtual_now_, queue_.begin()->first.first);
    while (!queue_.empty() && queue_.begin()->first.first <= virtual_now_) {
      auto it = queue_.begin();
      due_of_.erase(it->first.second);
      fired.push_back(it->second);  // in deadline order, then in the order they were set
      queue_.erase(it);
    }
  }
  for (auto& e : fired) deliver_(e.to, e.node);
  return true;
}

void timer_service::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (queue_.empty()) {
      wake_.wait(lock);
      continue;
    }
    const auto due = queue_.begin()->first.first;
    if (due == clock::time_point::max()) {
      // Only "never" timers are left: wait for a new timer or a stop, not until an instant that
      // the condition variable would have to convert (and could overflow doing so).
      wake_.wait(lock);
      continue;
    }
    if (clock::now() < due) {
      wake_.wait_until(lock, due);
      continue;
    }
    std::vector<entry> fired;
    const auto now = clock::now();
    while (!queue_.empty() && queue_.begin()->first.first <= now) {
      auto it = queue_.begin();
      due_of_.erase(it->first.second);
      fired.push_back(it->second);
      queue_.erase(it);
    }
    lock.unlock();
    for (auto& e : fired) deliver_(e.to, e.node);
    lock.lock();
  }
}

}  // namespace sluice::internal
