// The built-in stage library's one entry point (include/sluice/stages/builtins.hpp), and the event
// helpers the built-in stages share.
#include <sluice/stages/builtins.hpp>

#include <sluice/pipeline/event_json.hpp>

#include "pipeline/event_jq.hpp"
#include "stages/builtin.hpp"
#include "stages/nats_jetstream.hpp"
#include "stages/nats_stages.hpp"

namespace sluice::stages {

event string_event(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  pipeline::internal::append_jq_string(text.data(), text.size(), out);
  return event::from_text_unchecked(out);
}

event event_of(const json& value) {
  event e;
  pipeline::from_json(value, e);
  return e;
}

void register_builtins(pipeline::registry& r) {
  register_sources(r);
  register_transforms(r);
  register_sinks(r);
  register_window(r);
  register_nats(r);
  register_nats_jetstream(r);
}

}  // namespace sluice::stages
