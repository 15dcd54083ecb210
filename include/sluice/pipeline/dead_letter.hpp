// sluice/pipeline/dead_letter.hpp: the event a stage sends to its dead-letter stage.
//
// A stage whose `on_error` names a `dead_letter` stage sends each input it still fails on (after
// its retries) there, as one JSON object saying what failed:
//   {"event": <the input>, "error": "...", "stage": "<name>", "attempts": N, "time": "<RFC 3339, UTC>"}
// The dead letter keeps the input's metadata, its acknowledgement holder included: the input counts
// as handled once the dead-letter stage has handled its dead letter (a sink: written), and fails
// (the broker redelivers) if the dead letter is lost. It goes out on the failing stage's output
// with the origin the engine gave the instance (stage_instance::dead_letter_origin); the engine
// routes events of that origin to the dead-letter stage alone, with the same demand-driven flow
// control as any event: a slow dead-letter stage holds the failing stage back.
#pragma once

#include <cstddef>
#include <chrono>
#include <string_view>

#include <sluice/pipeline/event.hpp>

namespace sluice::pipeline {

/// The dead letter of `failed` (moved in): see the file comment. `stage` is the failing stage's
/// instance name, `attempts` how many times the input was run, `when` its `time` (the stage's
/// runtime's clock, virtual in `sluice test`: runtime::system_now()).
event make_dead_letter(event failed, std::string_view stage, std::string_view error, std::size_t attempts, origin_ref origin,
                       std::chrono::system_clock::time_point when = std::chrono::system_clock::now());

}  // namespace sluice::pipeline
