// lib/stages/nats_jetstream_link.hpp: what a `nats_jetstream` source instance holds at the server:
// its connection, JetStream context and pull subscription bound to the durable consumer, and the
// subscription that counts MAX_DELIVERIES advisories.
//
// Shared ownership on purpose: every acknowledgement of a fetched message holds the link, because
// libnats acks through the message's subscription (natsMsg_Ack reads msg->sub without a
// reference: the subscription must outlive every message it delivered). So the subscription and
// its connection live until the last event is settled, even after the stage has stopped; the last
// holder flushes the acks still buffered before closing.
#pragma once

#include <nats/nats.h>

#include <memory>
#include <string>
#include <vector>

#include "stages/nats_jetstream.hpp"

namespace sluice::stages {

/// One source instance's server side. Thread-safe where libnats is (a natsConnection is locked
/// internally; acks of different messages may run on different threads).
struct jetstream_link {
  jetstream_link() = default;
  jetstream_link(const jetstream_link&) = delete;
  jetstream_link& operator=(const jetstream_link&) = delete;
  /// Flushes buffered acks (bounded wait), then closes the subscriptions and the connection.
  ~jetstream_link();

  nats_connection_ptr connection;
  jsCtx* js = nullptr;
  natsSubscription* pull = nullptr;        ///< bound to the durable; fetched from by one thread
  natsSubscription* advisories = nullptr;  ///< MAX_DELIVERIES of this consumer
  std::int64_t nak_delay_ms = 0;
  std::int64_t flush_timeout_ms = 2000;
  std::shared_ptr<jetstream_counters> counters;  ///< never null
  std::shared_ptr<stage_counters> stats;         ///< the stage's counters (acknowledged, failed); may be null
};

/// A link, or why there is none (`error` names the server, stream, consumer or subject), plus
/// what was created on the way (`created`, for the log: creating is never silent).
struct jetstream_open_result {
  std::shared_ptr<jetstream_link> link;
  std::string error;
  std::vector<std::string> created;
};

/// Connects, checks (or creates) the stream and the consumer, and subscribes. Blocks up to the
/// connect timeout per server plus a few request round trips. `stats` gets the advisories' count
/// in `dropped` (may be null).
jetstream_open_result open_jetstream(const jetstream_settings& s, const std::string& stage,
                                     std::shared_ptr<jetstream_counters> counters, std::shared_ptr<stage_counters> stats);

/// True when stream subject pattern `pattern` matches every subject `filter` matches (NATS
/// wildcards: `*` one token, `>` the rest).
bool subject_covers(std::string_view pattern, std::string_view filter);

}  // namespace sluice::stages
