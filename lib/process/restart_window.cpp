// The restart allowance shared by supervisors, consumer supervisors and running pipelines.
#include <sluice/process/restart_window.hpp>

namespace sluice {

bool restart_window::expired(clock::time_point t, clock::time_point now) const noexcept {
  using std::chrono::seconds;
  if (period_ % seconds(1) == clock::duration::zero()) {
    // Whole seconds, as OTP counts them: floor both instants to the second.
    const auto then_s = std::chrono::floor<seconds>(t.time_since_epoch());
    const auto now_s = std::chrono::floor<seconds>(now.time_since_epoch());
    return now_s - then_s > std::chrono::duration_cast<seconds>(period_);
  }
  return now - t > period_;
}

bool restart_window::try_restart(clock::time_point now) {
  restarts_.push_back(now);
  while (!restarts_.empty() && expired(restarts_.front(), now)) restarts_.pop_front();
  return restarts_.size() <= max_restarts_;
}

}  // namespace sluice
