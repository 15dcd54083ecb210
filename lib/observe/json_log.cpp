#include "observe/json_log.hpp"

#include <unistd.h>

#include <ctime>

#include <nlohmann/json.hpp>

namespace sluice::observe {

namespace {

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  return std::string(buf, n) + "." + std::to_string(1000 + ms % 1000).substr(1) + "Z";
}

}  // namespace

std::string json_log_line(const log_record& r, const std::string& pipeline) {
  nlohmann::json j{{"time", rfc3339(r.time)}, {"level", to_string(r.level)}, {"pipeline", pipeline},
                   {"stage", nullptr}, {"message", r.message}};
  if (!r.source.empty()) j["stage"] = r.source;
  // Replace, not throw: a message may carry bytes from an event that are not UTF-8.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

log_sink json_log_sink(std::string pipeline) {
  return [pipeline = std::move(pipeline)](const log_record& r) {
    const std::string line = json_log_line(r, pipeline) + "\n";
    for (std::size_t done = 0; done < line.size();) {
      const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
      if (n <= 0) return;  // a closed or full stderr: the record is lost, the pipeline goes on
      done += static_cast<std::size_t>(n);
    }
  };
}

}  // namespace sluice::observe
