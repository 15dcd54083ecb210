// lib/stages/nats_stages.hpp: the `nats` source and sink (core NATS and JetStream publish).
#pragma once

#include <sluice/pipeline/registry.hpp>

namespace sluice::stages {

/// The `nats` sink: publishes each event to a subject (optionally through JetStream, confirmed).
pipeline::stage_type nats_sink_type();
/// The `nats` source: a core NATS subscription (at most once).
pipeline::stage_type nats_source_type();

/// Registers both into `r`.
void register_nats(pipeline::registry& r);

}  // namespace sluice::stages
