// sluice-bench/jetstream_scenarios.hpp: the `nats_jetstream` source beside a bare libnats loop, and
// several instances on one durable consumer (jetstream_null, jetstream_instances; issue 15).
#pragma once

#include <string>
#include <vector>

#include "scenario.hpp"

namespace sluice::bench {

/// jetstream_null and jetstream_instances, running the binary `sluice` against a nats-server the
/// bench starts (both skipped when nats-server is not installed).
std::vector<scenario> jetstream_scenarios(const std::string& sluice);

}  // namespace sluice::bench
