// The dead letters of stages with an `on_error` dead-letter stage (see sluice/pipeline/dead_letter.hpp).
#include <sluice/pipeline/dead_letter.hpp>

#include <chrono>
#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

namespace sluice::pipeline {

namespace {

/// `when` as RFC 3339 in UTC with milliseconds ("2026-12-07T11:03:25.123Z"), as JSON log lines write it.
std::string rfc3339(std::chrono::system_clock::time_point when) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  return std::string(buf, n) + "." + std::to_string(1000 + ms % 1000).substr(1) + "Z";
}

/// `s` as a JSON string (invalid UTF-8 replaced, so the line stays valid JSON).
std::string quoted(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

event make_dead_letter(event failed, std::string_view stage, std::string_view error, std::size_t attempts, origin_ref origin,
                       std::chrono::system_clock::time_point when) {
  std::string text = "{\"event\":";
  failed.append_json(text);  // the input as it came, compact
  text += ",\"error\":" + quoted(error);
  text += ",\"stage\":" + quoted(stage);
  text += ",\"attempts\":" + std::to_string(attempts);
  text += ",\"time\":\"" + rfc3339(when) + "\"}";
  event letter = event::from_text_unchecked(text);
  letter.set_metadata_from(failed);  // its origin's position and time, and its acknowledgement holder
  failed.ack().done();               // the copy above is the holder now
  letter.set_origin(std::move(origin));
  return letter;
}

}  // namespace sluice::pipeline
