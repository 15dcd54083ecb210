// The dead letters of stages with an `on_error` dead-letter stage (see sluice/pipeline/dead_letter.hpp).
#include <sluice/pipeline/dead_letter.hpp>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include <sluice/process/log.hpp>

namespace sluice::pipeline {

namespace {


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
