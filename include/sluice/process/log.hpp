// sluice/process/log.hpp: where a runtime's log lines go.
//
// The engine logs what GenStage logs (events a full buffer discarded, a refused duplicate
// subscription, a protocol message of the wrong kind), never per event: at most once per store,
// per subscription or per message. A runtime owns one logger (runtime_options::log_level and
// ::log_sink); the default sink writes one line per record to standard error. Embedders redirect
// the records with a sink of their own (a function), and filter them by level.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sluice {

enum class log_level : std::uint8_t { debug, info, warning, error, off };

/// "debug", "info", "warning", "error" or "off".
std::string_view to_string(log_level level) noexcept;

/// `t` as RFC 3339 in UTC with milliseconds ("2026-12-07T11:03:25.123Z"): how JSON log lines and
/// dead letters write a time.
std::string rfc3339(std::chrono::system_clock::time_point t);

/// One log line. The views are valid only during the sink's call.
struct log_record {
  log_level level = log_level::info;
  std::chrono::system_clock::time_point time;
  std::string_view message;
  std::string_view source;  ///< who logged it: a stage's name, "sluice", a component; may be empty
};

/// Receives the records at or above the logger's level, from any thread (it must be thread-safe),
/// never while the engine holds a lock. What it throws is dropped.
using log_sink = std::function<void(const log_record&)>;

/// The default sink: `sluice: warning: [source] message` on standard error, one write per line
/// (spdlog's stderr sink), so lines from several threads never interleave.
log_sink stderr_log_sink();

/// A level and a sink. Thread-safe: log() may be called from any thread; the level may change at
/// any time (relaxed: a record logged around the change may go either way).
class logger {
 public:
  /// An empty `sink` means stderr_log_sink().
  explicit logger(log_level level = log_level::warning, log_sink sink = {});

  [[nodiscard]] bool enabled(log_level level) const noexcept {
    return level >= level_.load(std::memory_order_relaxed) && level != log_level::off;
  }
  void set_level(log_level level) noexcept { level_.store(level, std::memory_order_relaxed); }
  [[nodiscard]] log_level level() const noexcept { return level_.load(std::memory_order_relaxed); }

  /// Hands a record to the sink if `level` is enabled.
  void log(log_level level, std::string_view message, std::string_view source = {}) const noexcept;
  void debug(std::string_view message, std::string_view source = {}) const noexcept { log(log_level::debug, message, source); }
  void info(std::string_view message, std::string_view source = {}) const noexcept { log(log_level::info, message, source); }
  void warning(std::string_view message, std::string_view source = {}) const noexcept { log(log_level::warning, message, source); }
  void error(std::string_view message, std::string_view source = {}) const noexcept { log(log_level::error, message, source); }

 private:
  std::atomic<log_level> level_;
  log_sink sink_;
};

}  // namespace sluice
