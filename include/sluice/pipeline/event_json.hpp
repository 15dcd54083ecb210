// sluice/pipeline/event_json.hpp: events to and from nlohmann::json, for plugins.
//
// The convenient path, and the slower one: each conversion builds (or walks) a whole nlohmann tree
// per event, where the engine's own stages keep the text or a jv. Integers stay exact (nlohmann
// keeps int64/uint64); metadata is untouched (from_json keeps the target event's metadata).
// With these, `nlohmann::json j = ev;` and `j.get_to(ev)` work (nlohmann's ADL hooks).
#pragma once

#include <nlohmann/json.hpp>

#include <sluice/pipeline/event.hpp>

namespace sluice::pipeline {

/// `j` = the event's payload (parsed again from its text). Throws nlohmann's parse_error only if
/// an event was built from invalid text with from_text_unchecked.
void to_json(nlohmann::json& j, const event& e);
/// `e`'s payload = `j` (serialised compact; a NaN or infinite number becomes null, as nlohmann
/// dumps it). `e`'s metadata is kept.
void from_json(const nlohmann::json& j, event& e);

}  // namespace sluice::pipeline
