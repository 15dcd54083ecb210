// sluice/stage/protocol.hpp: the subscription protocol, for plain processes that act as a producer
// or a consumer of stages (GenStage documents its message protocol for the same purpose).
//
// Every message goes to a process mailbox (`context::send`). A subscription is named by `ref`,
// the consumer's monitor on the producer, made before the subscribe is sent:
//
//   consumer -> producer  protocol::subscribe{consumer, ref, options, &typeid(T)}
//                         opens it. T is the event type the consumer expects; a producer of
//                         another type refuses (event_type_mismatch).
//   producer -> consumer  protocol::subscribed{ref}       it is in place (what a sync subscribe waits for)
//   consumer -> producer  protocol::ask{consumer, ref, n}  n more events (never 0)
//   producer -> consumer  protocol::events<T>{producer, ref, events}
//                         never more than asked in total, never empty
//   consumer -> producer  protocol::cancel_to_producer{ref, reason}
//                         ends it; the producer answers with cancel_to_consumer
//   producer -> consumer  protocol::cancel_to_consumer{producer, ref, reason}
//                         it is over (the answer to a cancel, a refusal, or the producer's own cancel)
//
// A stage answers an ask or events on a subscription it does not have with a cancel
// (`unknown_subscription`), refuses a subscribe it cannot take with cancel_to_consumer (reasons:
// refusal.hpp), and monitors the other side: a peer that exits ends the subscription as a DOWN
// (cancel_kind::down). A plain process acting as a consumer should monitor the producer the same
// way (the monitor's id is `ref`). A stage that receives a protocol message meant for another kind
// (an ask at a consumer, events at a producer) logs a warning and drops it; handle_info never sees
// protocol messages.
#pragma once

#include <sluice/stage/detail/protocol.hpp>

namespace sluice::protocol {

using subscribe = detail::stage_subscribe;
using subscribed = detail::stage_subscribed;
using ask = detail::stage_ask;
template <class T>
using events = detail::stage_events<T>;
using cancel_to_producer = detail::stage_cancel_to_producer;
using cancel_to_consumer = detail::stage_cancel_to_consumer;

}  // namespace sluice::protocol
