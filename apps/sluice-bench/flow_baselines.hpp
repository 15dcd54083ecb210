// sluice-bench/flow_baselines.hpp: the `tbb_flow` baselines of the stage scenarios.
//
// The same graphs in oneTBB's flow graph, as a oneTBB user would write them: an input_node
// emitting batches of `batch_events` std::int64_t (stage_workloads.hpp) as one message each (a
// struct holding a fixed array, so a message costs no allocation), a limiter_node admitting
// `window_batches` batches (the demand window) whose decrement port is driven by the final
// node(s), and serial function_nodes for the stages. A fan-out's four consumers all feed the
// limiter's decrement port, a continue_receiver that fires once per four messages: one decrement
// per source batch once every consumer has handled its part.
// - partition4: a serial multifunction_node splits each source batch into four parts by
//   x mod 4 (always four messages per source batch, some possibly empty).
// - broadcast4: the limiter's output goes to all four consumers (a flow graph sender broadcasts).
// The graph runs in oneTBB's default arena (one thread per core, the calling thread included).
//
// Each function returns the seconds from activating the source to wait_for_all() returning, and
// throws if a consumer's count or sum is wrong.
#pragma once

#include <cstdint>

namespace sluice::bench {

double flow_producer_consumer_seconds(std::int64_t events);
double flow_pipeline4_seconds(std::int64_t events);
double flow_partition4_seconds(std::int64_t events);
double flow_broadcast4_seconds(std::int64_t events);

}  // namespace sluice::bench
