// sluice-bench/jetstream_scenarios.hpp: the `nats_jetstream` source beside a bare libnats loop, and
// several instances on one durable consumer, the `nats` sink with JetStream acks beside a bare
// publish loop (jetstream_null, jetstream_instances, jetstream_publish; issue 15).
#pragma once

#include <string>
#include <vector>

#include "scenario.hpp"

namespace sluice::bench {

/// jetstream_null, jetstream_instances and jetstream_publish, running the binary `sluice` against a nats-server the
/// bench starts (both skipped when nats-server is not installed).
std::vector<scenario> jetstream_scenarios(const std::string& sluice);

}  // namespace sluice::bench
