// sluice/stage/start_result.hpp: what a stage's start decided (GenStage's start return values).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>

#include <sluice/process/exit_reason.hpp>
#include <sluice/process/pid.hpp>

namespace sluice {

/// How a start ended: the stage runs (`started`), its init declined to run it (`ignored`:
/// GenStage's :ignore; the process exits normally), or it stopped before running (`stopped`, with
/// the reason: bad_opts, a name already taken, a subscription at start that failed, its init's own
/// stop, or `timeout`).
enum class start_outcome : std::uint8_t { started, ignored, stopped };

/// What `sync_start` reports. `stage` is the process, valid unless nothing was spawned (bad_opts).
struct start_result {
  start_outcome outcome = start_outcome::stopped;
  pid stage;
  exit_reason reason;  ///< meaningful when stopped
  explicit operator bool() const noexcept { return outcome == start_outcome::started; }
};

namespace detail {

/// Where a stage's process reports its start to the thread waiting in sync_start: set once, at
/// the end of the stage's init.
class start_report {
 public:
  void set(start_result r) {
    {
      std::lock_guard lock(mutex_);
      result_ = std::move(r);
    }
    ready_.notify_all();
  }
  /// The result, or nothing after `timeout`.
  std::optional<start_result> wait(std::chrono::steady_clock::duration timeout) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, timeout, [&] { return result_.has_value(); });
    return result_;
  }

 private:
  std::mutex mutex_;  // guards result_
  std::condition_variable ready_;
  std::optional<start_result> result_;
};

}  // namespace detail
}  // namespace sluice
