// lib/stages/nats_jetstream_ack.hpp: the acknowledgement of one JetStream message.
//
// Owns the natsMsg until its events are settled: acked -> `+ACK` (natsMsg_Ack), nacked ->
// `-NAK {"delay": nak_delay}` (natsMsg_NakWithDelay), then the message is destroyed. Runs on
// whichever thread ends the last holder (a sink's): libnats allows it, an ack being a publish on
// the subscription's connection (internally locked) to the reply subject the message carries.
// Neither call waits for the server (acks are buffered; the link flushes them when it closes), so
// settling never blocks the event path on a round trip. The link is held so that the subscription
// the ack goes through outlives the message (see nats_jetstream_link.hpp).
#pragma once

#include <nats/nats.h>

#include <memory>
#include <utility>

#include <sluice/pipeline/event_metadata.hpp>

#include "stages/nats_jetstream_link.hpp"

namespace sluice::stages {

class jetstream_ack final : public pipeline::acknowledgement {
 public:
  /// Adopts `msg`.
  jetstream_ack(natsMsg* msg, std::shared_ptr<jetstream_link> link) noexcept : msg_(msg), link_(std::move(link)) {}
  jetstream_ack(const jetstream_ack&) = delete;
  jetstream_ack& operator=(const jetstream_ack&) = delete;

 private:
  ~jetstream_ack() override { natsMsg_Destroy(msg_); }

  void settle(pipeline::ack_outcome outcome) noexcept override {
    const natsStatus st = outcome == pipeline::ack_outcome::acked ? natsMsg_Ack(msg_, nullptr)
                                                                  : natsMsg_NakWithDelay(msg_, link_->nak_delay_ms, nullptr);
    // Relaxed: a statistic. A failed ack (connection closed for good) means a redelivery.
    if (st != NATS_OK) link_->counters->ack_failures.fetch_add(1, std::memory_order_relaxed);
    if (link_->stats) (outcome == pipeline::ack_outcome::acked ? link_->stats->acknowledged : link_->stats->failed).fetch_add(1, std::memory_order_relaxed);
    delete this;  // the last holder is gone: nobody touches this object again
  }

  natsMsg* msg_;
  std::shared_ptr<jetstream_link> link_;
};

}  // namespace sluice::stages
