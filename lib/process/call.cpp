#include <condition_variable>
#include <mutex>
#include <optional>

#include <sluice/process/call.hpp>
#include <sluice/process/runtime.hpp>

namespace sluice {

const char* to_string(call_error e) noexcept {
  switch (e) {
    case call_error::timeout: return "timeout";
    case call_error::noproc: return "noproc";
    case call_error::no_reply: return "no_reply";
    case call_error::bad_reply_type: return "bad_reply_type";
  }
  return "unknown";
}

namespace detail {

/// The reply slot a plain thread waits on. First answer wins; later ones are dropped.
class blocking_sink final : public reply_sink {
 public:
  void deliver(message reply) noexcept override { settle(call_result<message>(std::move(reply))); }
  void fail(call_error e) noexcept override { settle(call_result<message>(e)); }

  call_result<message> wait(std::chrono::steady_clock::duration timeout) {
    std::unique_lock lock(mutex_);
    if (!done_.wait_for(lock, timeout, [&] { return result_.has_value(); })) return call_error::timeout;
    return std::move(*result_);
  }

 private:
  void settle(call_result<message> r) noexcept {
    {
      std::lock_guard lock(mutex_);
      if (result_) return;
      result_.emplace(std::move(r));
    }
    done_.notify_all();
  }
  std::mutex mutex_;  // guards result_
  std::condition_variable done_;
  std::optional<call_result<message>> result_;
};

blocking_call::blocking_call() : sink_(std::make_shared<blocking_sink>()) {}
blocking_call::~blocking_call() = default;
reply_handle blocking_call::handle() { return reply_handle(sink_); }
call_result<message> blocking_call::wait(std::chrono::steady_clock::duration timeout) {
  return sink_->wait(timeout);
}

}  // namespace detail
}  // namespace sluice
