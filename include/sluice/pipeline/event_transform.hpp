// sluice/pipeline/event_transform.hpp: a stage type from a function of one event, for plugins.
//
// A plugin's own producer_consumer handles whole batches: when its handle_events throws, the stage
// fails (its `restart` applies), and the engine cannot tell which event was at fault. A transform
// made here runs a function on one event at a time instead, so a throw is that event's failure and
// the stage's `on_error` engine key applies to it, as to a jq error: retries with back-off, skip,
// a dead-letter stage, or fail (the default).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <sluice/pipeline/event.hpp>
#include <sluice/pipeline/registry.hpp>

namespace sluice::pipeline {

/// Handles one input: appends its outputs (0..n) to `out`. It may throw (anything): the outputs it
/// appended are then dropped and the stage's `on_error` decides. The outputs get the input's
/// metadata (origin, position, time, key and a holder of its acknowledgement); the input is
/// acknowledged once its outputs are made. Called on the stage's own process, one call at a time.
using event_function = std::function<void(const event& in, std::vector<event>& out)>;

/// A transform stage type called `name` that, for each instance, runs `make(options)` on each
/// event (`options` validated against `options`, defaults filled in). It routes failures
/// (stage_type::routes_failures). Register it with registry::add.
stage_type event_transform(std::string name, std::string description, std::vector<option_spec> options,
                           std::function<event_function(const json& options)> make);

}  // namespace sluice::pipeline
