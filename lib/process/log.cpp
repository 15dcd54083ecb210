// The runtime's logger, and the default sink on standard error (spdlog behind sluice's interface:
// one formatted write per line, whatever thread logs).
#include <sluice/process/log.hpp>

#include <ctime>
#include <memory>
#include <utility>

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace sluice {

std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
    case log_level::off: return "off";
  }
  return "off";
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const auto whole = ms >= 0 || ms % 1000 == 0 ? ms / 1000 : ms / 1000 - 1;  // floor: before 1970 too
  const std::time_t seconds = static_cast<std::time_t>(whole);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  return std::string(buf, n) + "." + std::to_string(1000 + (ms - whole * 1000)).substr(1) + "Z";
}

namespace {

spdlog::level::level_enum spdlog_level(log_level level) {
  switch (level) {
    case log_level::debug: return spdlog::level::debug;
    case log_level::info: return spdlog::level::info;
    case log_level::warning: return spdlog::level::warn;
    case log_level::error: return spdlog::level::err;
    case log_level::off: return spdlog::level::off;
  }
  return spdlog::level::off;
}

}  // namespace

log_sink stderr_log_sink() {
  // Not registered in spdlog's global registry: each sink is a value of its own.
  auto out = std::make_shared<spdlog::logger>("sluice", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  out->set_pattern("sluice: %v");
  out->set_level(spdlog::level::trace);
  return [out](const log_record& r) {
    std::string line;
    line.reserve(r.message.size() + r.source.size() + 16);
    line += to_string(r.level);
    line += ": ";
    if (!r.source.empty()) {
      line += '[';
      line += r.source;
      line += "] ";
    }
    line += r.message;
    out->log(spdlog_level(r.level), line);
  };
}

logger::logger(log_level level, log_sink sink) : level_(level), sink_(sink ? std::move(sink) : stderr_log_sink()) {}

void logger::log(log_level level, std::string_view message, std::string_view source) const noexcept {
  if (!enabled(level)) return;
  try {
    sink_(log_record{level, std::chrono::system_clock::now(), message, source});
  } catch (...) {  // a sink's failure must not take the caller down
  }
}

}  // namespace sluice
