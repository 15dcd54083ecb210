#include <sluice/stage/detail/cancel_policy.hpp>
#include <sluice/stage/refusal.hpp>

namespace sluice::detail {

after_cancel decide_after_cancel(cancel_mode mode, const exit_reason& reason) {
  const bool exits = mode == cancel_mode::permanent || (mode == cancel_mode::transient && !reason.is_transient());
  const bool duplicate = reason == refusal_reason(refusal::already_subscribed);
  if (exits && !duplicate) return after_cancel::exit;
  return reason.is_transient() || duplicate ? after_cancel::run_on : after_cancel::run_on_failed;
}

bool last_producer_rule::finish_now(std::size_t subscriptions) noexcept {
  if (!enabled_ || subscriptions != 0 || finishing_) return false;
  if (failed_ && !done_) return false;
  finishing_ = true;
  return true;
}

}  // namespace sluice::detail
