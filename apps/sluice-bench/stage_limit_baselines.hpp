// sluice-bench/stage_limit_baselines.hpp: the `limit` baselines of the stage scenarios.
//
// The same batches as the stage scenarios (stage_workloads.hpp: batch_events int64_t, at most
// window_batches in flight per edge), handed between two threads pinned to distinct CPUs through
// bare SPSC rings (spsc_ring.hpp), waiting spin-then-yield (pinned_pair.hpp). A batch lives in a
// preallocated pool: the producer fills it in place and passes its pointer through a `full` ring,
// the consumer hands it back through a `free` ring, so the pool's size is the demand window. No
// allocation, no scheduling, no type erasure.
//
// Where the graph has more stages than the machine has cores (we measure on 2), the stages share
// the two threads; a stage hands its batch to the next one on the same thread by a plain call, and
// still writes its own output batch as the stage would:
// - pipeline4: source and x*2 on CPU 0, the filter and the sum on CPU 1; the middle edge is the ring.
// - partition4 / broadcast4: the source and the dispatcher on CPU 0, one ring pool per consumer;
//   the four consumers on CPU 1, as one thread serving the four rings round-robin. (Four consumer
//   threads on one core would only measure the kernel's scheduler; this is the best 2 cores do.)
//   partition4 fills one batch per partition and sends it when full (or at the end); broadcast4
//   copies every source batch into each consumer's ring.
//
// Each function returns the seconds from the start gate to the end of the later thread, and throws
// if a consumer's count or sum is wrong.
#pragma once

#include <cstdint>

namespace sluice::bench {

double limit_stage_producer_consumer_seconds(std::int64_t events);
double limit_stage_pipeline4_seconds(std::int64_t events);
double limit_stage_partition4_seconds(std::int64_t events);
double limit_stage_broadcast4_seconds(std::int64_t events);

}  // namespace sluice::bench
