// sluice/stage/detail/cancel_policy.hpp: what a consumer does when a subscription ends.
#pragma once

#include <cstdint>

#include <sluice/process/exit_reason.hpp>
#include <sluice/stage/subscription.hpp>

namespace sluice::detail {

/// What ending one subscription does to its consumer (GenStage's :cancel subscription option).
enum class after_cancel : std::uint8_t {
  run_on,          ///< the consumer runs on (temporary, or transient with a normal end)
  run_on_failed,   ///< runs on, but the subscription ended abnormally (its producer may come back)
  exit,            ///< the consumer exits with the subscription's reason
};

/// The cancel mode's verdict on a subscription that ended with `reason`. A refusal for a
/// duplicate (`already_subscribed`) never stops the consumer: the first subscription still runs.
[[nodiscard]] after_cancel decide_after_cancel(cancel_mode mode, const exit_reason& reason);

/// exit_after_last_producer (stage_options): whether the consumer finishes once no subscription is
/// left. Once one ended abnormally without stopping the stage, it waits for producers_done (its
/// producer may be restarted and subscribe again). Finishes at most once.
class last_producer_rule {
 public:
  explicit last_producer_rule(bool enabled) noexcept : enabled_(enabled) {}
  /// A subscription ended abnormally and the consumer ran on.
  void producer_failed() noexcept { failed_ = true; }
  /// Told that no producer will subscribe any more.
  void producers_done() noexcept { done_ = true; }
  /// Whether to finish now, with `subscriptions` left; true once only.
  [[nodiscard]] bool finish_now(std::size_t subscriptions) noexcept;

 private:
  bool enabled_;
  bool failed_ = false;     // a subscription ended abnormally without stopping the stage
  bool done_ = false;       // no producer will subscribe any more
  bool finishing_ = false;  // the normal exit has started
};

}  // namespace sluice::detail
