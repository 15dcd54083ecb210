// sluice/process/call.hpp: request/reply between processes and from plain threads.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <variant>

#include <sluice/process/message.hpp>

namespace sluice {

/// Why a call produced no reply.
enum class call_error : std::uint8_t {
  timeout,         ///< no reply within the timeout
  noproc,          ///< the callee did not exist when the request was sent
  no_reply,        ///< the callee exited, or dropped the request, without replying
  bad_reply_type,  ///< a reply arrived, but not of the type the caller asked for
};

/// Text form of a call_error, e.g. "timeout".
const char* to_string(call_error e) noexcept;

/// The outcome of a call: a value or a call_error. A small expected-like type.
template <class T>
class call_result {
 public:
  call_result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  call_result(call_error e) : v_(std::in_place_index<1>, e) {}

  [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  /// The value (precondition: ok()).
  [[nodiscard]] T& value() & { return std::get<0>(v_); }
  [[nodiscard]] T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  T* operator->() { return &value(); }
  /// The error (precondition: !ok()).
  [[nodiscard]] call_error error() const { return std::get<1>(v_); }

 private:
  std::variant<T, call_error> v_;
};

namespace detail {
/// Where a reply goes: a blocked plain thread, or a process's mailbox.
class reply_sink {
 public:
  virtual ~reply_sink() = default;
  virtual void deliver(message reply) noexcept = 0;
  virtual void fail(call_error e) noexcept = 0;
};
}  // namespace detail

/// The right to answer one call; move-only. `reply` answers once; destroying an unanswered handle
/// answers `call_error::no_reply`, so a caller never waits on a request that was dropped (for
/// example because the callee exited with the request still in its mailbox). Thread-safe to move
/// to and answer from any thread.
class reply_handle {
 public:
  reply_handle() = default;
  explicit reply_handle(std::shared_ptr<detail::reply_sink> sink) noexcept : sink_(std::move(sink)) {}
  reply_handle(reply_handle&&) noexcept = default;
  reply_handle& operator=(reply_handle&& other) noexcept {
    if (this != &other) {
      abandon();
      sink_ = std::move(other.sink_);
    }
    return *this;
  }
  ~reply_handle() { abandon(); }

  /// Answers the call with `value` (moved). Later calls do nothing.
  template <class T>
  void reply(T&& value) {
    if (auto s = std::move(sink_)) s->deliver(message::make(std::forward<T>(value)));
  }
  /// True until answered.
  [[nodiscard]] bool pending() const noexcept { return sink_ != nullptr; }

 private:
  void abandon() noexcept {
    if (auto s = std::move(sink_)) s->fail(call_error::no_reply);
  }
  std::shared_ptr<detail::reply_sink> sink_;
};

/// What a callee receives for `call(pid, Req{...})`: the request body and the handle to answer it.
template <class Req>
struct request {
  Req body;
  reply_handle from;
};

/// Names one call made from a process with `context::call`.
struct call_ref {
  std::uint64_t id = 0;
  friend constexpr bool operator==(const call_ref&, const call_ref&) = default;
};

/// The answer to `context::call`, delivered to the calling process as a message: the reply as a
/// message (read it with `get_if<T>()`), or why there is none. Exactly one per call.
struct call_reply {
  call_ref ref;
  call_result<message> result;
};

}  // namespace sluice
