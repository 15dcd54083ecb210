// lib/stages/builtin.hpp: shared pieces of the built-in stage library.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <sluice/pipeline/event.hpp>
#include <sluice/pipeline/registry.hpp>
#include <sluice/stage.hpp>

namespace sluice::stages {

using pipeline::event;
using pipeline::option_claim;
using pipeline::option_spec;
using pipeline::option_type;
using pipeline::stage_instance;
using pipeline::stage_role;
using pipeline::stage_type;

/// The engine options for a stage of type S (a sink's have no producer side).
template <class S>
stage_options<typename S::out_type> engine_options(stage_options<pipeline::event>&& e) {
  if constexpr (std::is_same_v<typename S::out_type, pipeline::event>) {
    return std::move(e);
  } else {
    stage_options<typename S::out_type> o;
    o.name = std::move(e.name);
    o.subscribe_to = std::move(e.subscribe_to);
    o.exit_after_last_producer = e.exit_after_last_producer;
    o.spawn = e.spawn;
    o.counters = std::move(e.counters);
    return o;
  }
}

/// Starts a stage S built from its options (S(const json& options, const stage_instance&)).
template <class S>
pid start_json_stage(pipeline::spawner& where, const json& options, stage_instance instance) {
  auto stage = std::make_unique<S>(options, instance);
  return start(where, std::move(stage), engine_options<S>(std::move(instance.engine)));
}

/// Now, as an event time: nanoseconds since the Unix epoch.
inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Now on the runtime's clock (virtual in `sluice test`), as an event time: nanoseconds since the
/// Unix epoch. What the built-in stages stamp events with.
inline std::int64_t now_ns(const runtime& rt) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(rt.system_now().time_since_epoch()).count();
}

/// The event whose payload is the JSON string of `text` (valid UTF-8): escaped as jq -c does.
event string_event(std::string_view text);

/// The event whose payload is the JSON value `value` (a configured constant): written once.
event event_of(const json& value);

/// The integer option `name` (validated by the loader), or `fallback` when absent.
inline std::int64_t int_option(const json& options, const char* name, std::int64_t fallback) {
  auto it = options.find(name);
  return it == options.end() || it->is_null() ? fallback : it->get<std::int64_t>();
}

/// The string option `name`, or `fallback`.
inline std::string string_option(const json& options, const char* name, const std::string& fallback) {
  auto it = options.find(name);
  return it == options.end() || it->is_null() ? fallback : it->get<std::string>();
}

/// An option's schema entry.
inline option_spec opt(std::string name, option_type t, std::string description, bool required = false,
                       std::optional<json> def = std::nullopt) {
  option_spec s;
  s.name = std::move(name);
  s.type = t;
  s.description = std::move(description);
  s.required = required;
  s.default_value = std::move(def);
  return s;
}

/// A stage type from its parts (the `check` is set separately where there is one).
inline stage_type describe(std::string name, stage_role role, std::string description, std::vector<option_spec> options,
                           decltype(stage_type::start) start) {
  stage_type t;
  t.name = std::move(name);
  t.role = role;
  t.description = std::move(description);
  t.options = std::move(options);
  t.start = std::move(start);
  return t;
}

void register_sources(pipeline::registry& r);
void register_transforms(pipeline::registry& r);
void register_sinks(pipeline::registry& r);
void register_window(pipeline::registry& r);

}  // namespace sluice::stages
