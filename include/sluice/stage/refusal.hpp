// sluice/stage/refusal.hpp: why a stage refuses a subscription or a protocol message.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <sluice/process/exit_reason.hpp>

namespace sluice {

/// Why a producer (or its dispatcher) refuses a subscription, or a stage answers a protocol
/// message with a cancel. The consumer sees it as the exit reason `refusal_reason` makes:
/// `other("partition_taken 1")` and the like, GenStage's atoms spelled the same.
enum class refusal : std::uint8_t {
  event_type_mismatch,      ///< the consumer expects another event type than the producer emits
  duplicated_subscription,  ///< the same subscription id twice
  unknown_subscription,     ///< an ask or events on a subscription the stage does not have
  not_a_producer,           ///< subscribing to a consumer
  not_a_consumer,           ///< asking a producer to subscribe to something
  bad_opts,                 ///< the subscription options are invalid (detail: what is wrong)
  already_subscribed,       ///< broadcast: the same process subscribed twice
  bad_selector,             ///< broadcast: the selector is not a std::function<bool(const T&)>
  partition_required,       ///< partition: the subscription names no partition
  unknown_partition,        ///< partition: no such partition (detail: its name)
  partition_taken,          ///< partition: another live consumer holds it (detail: its name)
};

/// The refusal's name, as in its exit reason ("partition_taken").
[[nodiscard]] std::string_view to_string(refusal r) noexcept;

/// The exit reason a refused consumer sees: `other(name)`, or with a detail
/// `other("unknown_partition 7")`, `other("bad_opts: expected ...")` (GenStage's spelling).
[[nodiscard]] exit_reason refusal_reason(refusal r, std::string_view detail = {});

/// The refusal an exit reason made by refusal_reason stands for (none for any other reason): how a
/// consumer's side tells a refused subscription by its kind, never by matching text itself.
[[nodiscard]] std::optional<refusal> refusal_of(const exit_reason& reason);

}  // namespace sluice
