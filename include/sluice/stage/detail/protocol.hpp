// sluice/stage/detail/protocol.hpp: the messages stages exchange (GenStage's $gen_producer /
// $gen_consumer messages, plus the acknowledgement a synchronous subscribe waits for).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include <sluice/process/exit_reason.hpp>
#include <sluice/process/message.hpp>
#include <sluice/process/pid.hpp>
#include <sluice/stage/subscription.hpp>

namespace sluice::detail {

/// consumer -> producer: open subscription `ref` (the consumer's monitor on the producer).
struct stage_subscribe {
  pid consumer;
  std::uint64_t ref;
  subscription_options options;
  const std::type_info* event_type;  // what the consumer expects; checked by the producer
};
/// producer -> consumer: subscription `ref` is in place.
struct stage_subscribed {
  std::uint64_t ref;
};
/// consumer -> producer: `n` more events on `ref`.
struct stage_ask {
  pid consumer;
  std::uint64_t ref;
  std::size_t n;
};
/// producer -> consumer: events on `ref`, never more than asked.
template <class T>
struct stage_events {
  pid producer;
  std::uint64_t ref;
  std::vector<T> events;
};

// The messages of every batch: a stage tells them apart without comparing type names.
template <>
struct message_family<stage_ask> : std::integral_constant<std::uint8_t, 1> {};
template <class T>
struct message_family<stage_events<T>> : std::integral_constant<std::uint8_t, 2> {};
/// anyone -> producer: end subscription `ref`.
struct stage_cancel_to_producer {
  std::uint64_t ref;
  exit_reason reason;
};
/// producer -> consumer: subscription `ref` is over.
struct stage_cancel_to_consumer {
  pid producer;
  std::uint64_t ref;
  exit_reason reason;
};

// Requests and casts from the functions in stage.hpp.
struct stage_subscribe_request {
  subscribe_to target;
  /// resubscribe: the subscription to cancel first (with `reason`), known to the consumer or not.
  std::optional<subscription_ref> replace{};
  exit_reason replace_reason{};
};
/// anyone -> stage: stop with `reason` (terminate runs); answered `true` just before.
struct stage_stop_request {
  exit_reason reason;
};
struct stage_async_subscribe {
  subscribe_to target;
};
struct stage_set_demand {
  demand_mode mode;
};
struct stage_get_demand {};
struct stage_estimate_buffered_count {};
struct stage_async_info {
  message msg;
};
struct stage_sync_info {
  message msg;
};
/// producer -> itself: upstream demand a dispatch created (GenStage's self-sent ask).
struct stage_upstream_demand {
  std::size_t n;
};
/// anyone -> producer: stop producing; exit normally once what is buffered has been dispatched.
struct stage_drain {};
/// anyone -> consumer: no producer will subscribe any more (see producers_done in start.hpp).
struct stage_producers_done {};
/// stage -> itself: an info queued behind buffered events, released to handle_info once they left.
struct stage_released_info {
  message msg;
};
/// Internal marker: stop once everything buffered before it was dispatched.
struct stage_stop_marker {
  exit_reason reason;
};

}  // namespace sluice::detail
