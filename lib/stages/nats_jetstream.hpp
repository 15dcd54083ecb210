// lib/stages/nats_jetstream.hpp: the `nats_jetstream` source: a durable pull consumer on a JetStream
// stream whose messages become `pipeline::event`s that carry an acknowledgement.
//
// Demand is the pull: the stage's demand becomes credit for a fetch thread of its own, which asks
// the server for at most what the credit allows (capped at `max_batch`) and hands what arrives to
// the stage as one message per batch. A message is acknowledged (`+ACK`) when every event derived
// from it is done, and negatively acknowledged with a delay (`-NAK`) when one failed or was lost,
// so the server redelivers it: at least once, end to end. See nats_jetstream_fetcher.hpp for the
// thread and nats_jetstream_ack.hpp for the acknowledgement.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <sluice/pipeline/event.hpp>
#include <sluice/pipeline/event_parser.hpp>

#include "stages/nats_connection.hpp"

namespace sluice::stages {

/// How a `nats_jetstream` source consumes, from its options.
struct jetstream_settings {
  nats_settings connection;
  std::string stream;   ///< the stream's name
  std::string durable;  ///< the durable pull consumer's name (shared by every instance)
  std::string subject;  ///< the consumer's filter subject; "" = the whole stream
  std::int64_t ack_wait_ms = 30000;      ///< only when the consumer is created
  std::int64_t max_deliver = -1;         ///< only when the consumer is created; -1 = unlimited
  std::int64_t max_ack_pending = 10000;  ///< only when the consumer is created
  std::int64_t nak_delay_ms = 1000;      ///< redelivery delay after a negative acknowledgement
  bool create = false;                   ///< create a missing stream / consumer (logged)
  bool skip_errors = false;              ///< on_error skip: a message that is not JSON is terminated
  pipeline::parse_limits limits;
  std::size_t max_batch = 1000;  ///< most messages one pull asks for
  /// How long one pull waits at the server when nothing is there. After it the pull's unused
  /// credit comes back and a new pull is sent: the bound on how long a pull lost with a server
  /// crash can hold credit.
  std::int64_t pull_expires_ms = 1000;
};

/// The settings from validated options.
jetstream_settings jetstream_settings_from(const json& options, const std::string& stage_name);

/// The option schema of the `nats_jetstream` stage type.
std::vector<option_spec> jetstream_source_options();

/// Problems the schema cannot see (connection options; a durable name with a dot).
std::vector<pipeline::option_problem> check_jetstream_source(const json& options);

/// Counters a running source keeps beyond the stage's own (thread-safe, relaxed).
struct jetstream_counters {
  std::atomic<std::uint64_t> pulls{0};           ///< pull requests sent (fetch calls)
  std::atomic<std::uint64_t> received{0};        ///< messages fetched
  std::atomic<std::uint64_t> redelivered{0};     ///< of which the server had delivered before
  std::atomic<std::uint64_t> terminated{0};      ///< not JSON, skipped with on_error skip (+TERM)
  std::atomic<std::uint64_t> max_deliveries{0};  ///< MAX_DELIVERIES advisories seen
  std::atomic<std::uint64_t> ack_failures{0};    ///< acks / naks libnats refused to send
};

/// A `nats_jetstream` source (producer of events) for the embedding API: start it with
/// `sluice::start(rt, make_jetstream_source(...), options)`. `stats` may be null; `counters` too.
std::unique_ptr<producer<pipeline::event>> make_jetstream_source(jetstream_settings settings, std::string stage_name,
                                                                 std::shared_ptr<stage_counters> stats = {},
                                                                 std::shared_ptr<jetstream_counters> counters = {});

/// Registers the `nats_jetstream` stage type into `r`.
void register_nats_jetstream(pipeline::registry& r);

}  // namespace sluice::stages
