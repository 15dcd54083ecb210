// Events to and from nlohmann::json (see sluice/pipeline/event_json.hpp).
#include <sluice/pipeline/event_json.hpp>

namespace sluice::pipeline {

void to_json(nlohmann::json& j, const event& e) {
  if (e.has_text()) {
    j = nlohmann::json::parse(e.text());
    return;
  }
  j = nlohmann::json::parse(e.json());
}

void from_json(const nlohmann::json& j, event& e) {
  event text = event::from_text_unchecked(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  text.set_metadata_from(e);
  e = std::move(text);
}

}  // namespace sluice::pipeline
