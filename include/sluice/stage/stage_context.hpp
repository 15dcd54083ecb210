// sluice/stage/stage_context.hpp: what a stage callback can do.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <iterator>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/process/call.hpp>
#include <sluice/process/context.hpp>
#include <sluice/process/exit_reason.hpp>
#include <sluice/process/message.hpp>
#include <sluice/stage/subscription.hpp>

namespace sluice {

/// The event type of a stage side that has none (a producer's input, a consumer's output).
struct no_events {};

namespace detail {
/// The stage operations a callback reaches through its stage_context (implemented by the stage).
class stage_control {
 public:
  virtual ~stage_control() = default;
  virtual context& process() noexcept = 0;
  virtual void ask(subscription_ref s, std::size_t n) = 0;
  virtual void cancel(subscription_ref s, exit_reason reason) = 0;
  virtual void stop(exit_reason reason) = 0;
  /// init declines to run the stage (sync_start reports `ignored`).
  virtual void ignore() { stop(exit_reason::normal()); }
  virtual void stop_after_buffered(exit_reason reason) = 0;
  virtual void async_info(message msg) = 0;
  /// Dispatches what the running callback emitted so far (sent, or buffered).
  virtual void flush_emitted() = 0;
};
}  // namespace detail

/// Passed to every stage callback; valid only inside it, on its thread.
///
/// `emit` queues events for the stage's dispatcher: they are dispatched when the callback returns,
/// in emission order; events beyond the consumers' demand go to the stage's buffer.
template <class Out>
class stage_context {
 public:
  /// `size_hint`: how many events the callback will likely emit (the demand, or the input batch's
  /// size), reserved at the first single `emit` so a callback emitting one by one allocates once.
  /// `lent`: the input batch whose events the callback's span shows, when that span shows all of it
  /// and In is Out (what `emit_in_place` may hand on).
  stage_context(detail::stage_control& control, std::vector<Out>* out, std::size_t size_hint = 0,
                std::vector<Out>* lent = nullptr) noexcept
      : control_(&control), out_(out), lent_(lent), size_hint_(size_hint) {}

  /// The process context (self(), send, timers, monitors...).
  [[nodiscard]] context& process() const noexcept { return control_->process(); }
  [[nodiscard]] pid self() const noexcept { return control_->process().self(); }

  /// Emits one event (producers and producer_consumers only).
  void emit(Out event)
    requires(!std::is_same_v<Out, no_events>)
  {
    // At most 64Ki events ahead: the demand may be huge (many consumers, a big max_demand) and a
    // callback often emits far less; beyond it the vector grows as usual.
    if (out_->capacity() == 0 && size_hint_ > 1) out_->reserve(std::min<std::size_t>(size_hint_, 65536));
    out_->push_back(std::move(event));
  }
  /// Emits a batch of events (moved).
  void emit(std::vector<Out>&& events)
    requires(!std::is_same_v<Out, no_events>)
  {
    if (out_->empty()) {
      *out_ = std::move(events);
    } else {
      out_->insert(out_->end(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
    }
  }

  /// Emits events the callback holds in its own input span, usually after changing them there: a
  /// map rewrites `events` and emits it, a filter moves the events it keeps to the front and emits
  /// that prefix. The events are moved. When they are the front of the input batch, the span the
  /// callback got is that whole batch (a batch bigger than max_demand - min_demand is handed over
  /// in chunks, which are not), nothing was emitted before them in this callback and they fill at
  /// least a quarter of the batch's storage, that storage itself is emitted: the stage neither
  /// allocates nor copies (and, where the consumers' demand covers it, neither does the dispatch).
  /// `events` must not be used afterwards; handing on events already handed on throws.
  void emit_in_place(std::span<Out> events)
    requires(!std::is_same_v<Out, no_events>)
  {
    const std::less<const Out*> before;  // a total order, also between unrelated arrays
    if (taken_begin_ != nullptr && before(events.data(), taken_end_) && before(taken_begin_, events.data() + events.size())) {
      throw std::logic_error("sluice: emit_in_place: these events were already handed on");
    }
    if (lent_ != nullptr && out_->empty() && !events.empty() && events.data() == lent_->data() &&
        events.size() <= lent_->size() && events.size() * 4 >= lent_->capacity()) {
      taken_begin_ = lent_->data();
      taken_end_ = lent_->data() + lent_->size();
      lent_->erase(lent_->begin() + static_cast<std::ptrdiff_t>(events.size()), lent_->end());
      *out_ = std::move(*lent_);
      lent_->clear();
      lent_ = nullptr;
      return;
    }
    if (out_->empty()) out_->reserve(events.size());
    out_->insert(out_->end(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
  }

  /// Manual demand: asks the producer of `from` for `n` more events (n = 0 sends nothing).
  void ask(subscription_ref from, std::size_t n) { control_->ask(from, n); }
  /// Cancels a subscription, to one of this stage's producers or (a producer side cancelling on its
  /// own) to one of its consumers, as `from` was given to handle_subscribe; both ends then see
  /// handle_cancel with cancel_kind::cancel and the consumer's cancel mode applies.
  void cancel(subscription_ref from, exit_reason reason) { control_->cancel(from, std::move(reason)); }
  /// From init only: the stage does not start (GenStage's :ignore): it exits normally before any
  /// subscription is made, and sync_start reports `ignored`.
  void ignore() { control_->ignore(); }
  /// Stops the stage with `reason` once the callback returns.
  void stop(exit_reason reason = exit_reason::normal()) { control_->stop(std::move(reason)); }
  /// Stops the stage with `reason` once every event emitted so far has been dispatched (what a
  /// finite producer does when it is exhausted); events held by `accumulate` demand go first.
  void stop_after_dispatch(exit_reason reason = exit_reason::normal()) {
    control_->stop_after_buffered(std::move(reason));
  }
  /// Answers a call (the `from` of a `request<Req>`, in handle_call or kept for later) after the
  /// events this callback emitted so far have been dispatched, as GenStage's `{:reply, r, events,
  /// state}` does: a caller that consumes this stage gets those events before the reply. Calling
  /// `to.reply(value)` directly answers at once, ahead of them.
  template <class T>
  void reply(reply_handle& to, T&& value) {
    control_->flush_emitted();
    to.reply(std::forward<T>(value));
  }

  /// Queues `msg` for this stage's handle_info behind the events buffered so far.
  template <class T>
  void async_info(T&& msg) {
    control_->async_info(message::make(std::forward<T>(msg)));
  }

 private:
  detail::stage_control* control_;
  std::vector<Out>* out_;
  std::vector<Out>* lent_;
  const Out* taken_begin_ = nullptr;  // the storage emit_in_place handed on, if it did
  const Out* taken_end_ = nullptr;
  std::size_t size_hint_;
};

}  // namespace sluice
