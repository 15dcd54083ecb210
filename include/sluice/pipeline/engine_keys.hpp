// sluice/pipeline/engine_keys.hpp: the engine keys of a pipeline file, described once. A stage's
// engine keys say how the engine runs it (its subscriptions, dispatcher, buffer, copies, restarts),
// beside its type's own `options`. The loader checks a file against this table, the model's
// defaults come from it, and `sluice schema` is generated from it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <sluice/pipeline/registry.hpp>

namespace sluice::pipeline {

/// The range a numeric engine key must be in (a stage's `concurrency`, a subscription's
/// `max_demand`...).
struct key_range {
  double minimum;
  double maximum;
  bool integer = true;
  bool exclusive_minimum = false;  ///< the minimum itself is not allowed (max_seconds: above 0)
};

/// A stage's dispatcher kinds, as a pipeline file names them.
enum class dispatcher_kind : std::uint8_t { demand, broadcast, partition };

/// "demand", "broadcast" or "partition".
constexpr std::string_view to_string(dispatcher_kind k) noexcept {
  return k == dispatcher_kind::demand ? "demand" : k == dispatcher_kind::broadcast ? "broadcast" : "partition";
}

/// Where an engine key is written: in a stage, a `subscribe_to` entry, a `dispatcher` object, a
/// `restart` object, an `on_error` object or its `retry` object.
enum class key_scope : std::uint8_t { stage, subscription, dispatcher, restart, on_error, retry };

/// A set of stage roles or of dispatcher kinds, one bit each.
using key_set = std::uint8_t;
constexpr key_set bit(stage_role r) noexcept { return static_cast<key_set>(1U << static_cast<unsigned>(r)); }
constexpr key_set bit(dispatcher_kind k) noexcept { return static_cast<key_set>(1U << static_cast<unsigned>(k)); }
inline constexpr key_set every_role = bit(stage_role::source) | bit(stage_role::transform) | bit(stage_role::sink);
inline constexpr key_set producer_roles = bit(stage_role::source) | bit(stage_role::transform);
inline constexpr key_set consumer_roles = bit(stage_role::transform) | bit(stage_role::sink);
inline constexpr key_set every_kind = bit(dispatcher_kind::demand) | bit(dispatcher_kind::broadcast) | bit(dispatcher_kind::partition);

/// A key's default: a number, a boolean or a string, or none (then `engine_key::default_note`
/// may say what the engine does without it).
struct key_default {
  enum class kind : std::uint8_t { none, number, boolean, text } type = kind::none;
  double number = 0;
  bool boolean = false;
  std::string_view text;
};

/// One engine key. Composite keys (`subscribe_to`, `dispatcher`, `restart`, `options`) have type
/// `object` or `any` and their own keys in the scope they open.
struct engine_key {
  std::string_view name;
  key_scope scope;
  option_type type;
  std::optional<key_range> range;        ///< numbers: the allowed values
  key_default default_value;             ///< what the engine uses when the key is absent
  std::span<const std::string_view> choices;  ///< strings: the allowed values (empty: any)
  key_set roles = every_role;            ///< stage scope: the roles of the stages that take it
  key_set kinds = every_kind;            ///< dispatcher scope: the dispatcher kinds that take it
  bool required = false;                 ///< must be given wherever it applies
  std::string_view refusal;              ///< why a stage of another role cannot have it
  std::string_view description;
  std::string_view default_note;         ///< the default when it is not a constant ("max_demand / 2")
};

namespace engine_key_table_detail {
inline constexpr std::string_view dispatcher_kinds[] = {"demand", "broadcast", "partition"};
inline constexpr std::string_view cancel_modes[] = {"permanent", "transient", "temporary"};
inline constexpr std::string_view buffer_keeps[] = {"last", "first"};
inline constexpr std::string_view error_actions[] = {"fail", "skip"};
constexpr key_default number(double n) { return {key_default::kind::number, n, false, {}}; }
constexpr key_default boolean(bool b) { return {key_default::kind::boolean, 0, b, {}}; }
constexpr key_default text(std::string_view s) { return {key_default::kind::text, 0, false, s}; }
}  // namespace engine_key_table_detail

/// Every engine key, each scope's keys in the order error messages list them. The bounds are far
/// above what a pipeline needs and keep a typo from asking the engine for 2^63 copies or events: a
/// producer may hold up to the sum of its consumers' demand (max_demand times the copies) in one
/// batch, and each copy is a process with a mailbox, started before the run begins.
inline constexpr auto engine_key_table = [] {
  namespace d = engine_key_table_detail;
  using enum key_scope;
  using t = option_type;
  const key_set partition_only = bit(dispatcher_kind::partition);
  return std::array{
      engine_key{"type", stage, t::string, {}, {}, {}, every_role, every_kind, true, {}, "a registered stage type (`sluice stages`)", {}},
      engine_key{"options", stage, t::object, {}, {}, {}, every_role, every_kind, false, {}, "the stage type's options", {}},
      engine_key{"subscribe_to", stage, t::any, {}, {}, {}, consumer_roles, every_kind, true, "a source has no producers",
                 "the producers: a name, an object with \"stage\", or an array of them", {}},
      engine_key{"dispatcher", stage, t::any, {}, d::text("demand"), d::dispatcher_kinds, producer_roles, every_kind, false,
                 "a sink has no consumers to dispatch to", "how events go to the consumers: a kind, or an object with \"type\"", {}},
      engine_key{"buffer_size", stage, t::integer, key_range{1, 10'000'000}, {}, {}, producer_roles, every_kind, false,
                 "a sink has no output buffer", "events kept when no consumer wants them",
                 "10000 for a source, unbounded for a transform"},
      engine_key{"buffer_keep", stage, t::string, {}, d::text("last"), d::buffer_keeps, producer_roles, every_kind, false,
                 "a sink has no output buffer", "which events a full buffer keeps: \"last\" drops the oldest", {}},
      engine_key{"concurrency", stage, t::integer, key_range{1, 1024}, d::number(1), {}, consumer_roles, every_kind, false,
                 "a source cannot run in copies", "copies of the stage, sharing its producers' demand", {}},
      engine_key{"restart", stage, t::object, {}, {}, {}, every_role, every_kind, false, {},
                 "restart an instance that exits abnormally, at most max_restarts times within max_seconds", {}},
      engine_key{"on_error", stage, t::any, {}, d::text("fail"), d::error_actions, every_role, every_kind, false, {},
                 "an input the stage fails on: \"fail\" the stage, \"skip\" it, or an object {\"retry\": {...}, \"dead_letter\": stage}", {}},
      engine_key{"description", stage, t::string, {}, {}, {}, every_role, every_kind, false, {}, "free text", {}},

      engine_key{"stage", subscription, t::string, {}, {}, {}, every_role, every_kind, true, {}, "the producer's name", {}},
      engine_key{"max_demand", subscription, t::integer, key_range{1, 100'000}, d::number(1000), {}, every_role, every_kind, false, {},
                 "events in flight from the producer at most", {}},
      engine_key{"min_demand", subscription, t::integer, key_range{0, 99'999}, {}, {}, every_role, every_kind, false, {},
                 "ask again when outstanding demand falls to it; below max_demand", "max_demand / 2"},
      engine_key{"cancel", subscription, t::string, {}, d::text("transient"), d::cancel_modes, every_role, every_kind, false, {},
                 "transient: end with the last producer; permanent: with the first", {}},
      engine_key{"partition", subscription, t::integer, key_range{0, 1023}, {}, {}, every_role, every_kind, false, {},
                 "the producer's partition to take", {}},

      engine_key{"type", dispatcher, t::string, {}, d::text("demand"), d::dispatcher_kinds, every_role, every_kind, true, {},
                 "the dispatcher kind", {}},
      engine_key{"partitions", dispatcher, t::integer, key_range{1, 1024}, {}, {}, every_role, partition_only, true, {},
                 "the number of partitions", {}},
      engine_key{"key", dispatcher, t::string, {}, d::text(""), {}, every_role, partition_only, false, {},
                 "a JSON pointer into the event to partition by (\"\": the whole event)", {}},
      engine_key{"max_queued", dispatcher, t::integer, key_range{0, 10'000'000}, d::number(10'000), {}, every_role, partition_only,
                 false, {}, "events a partition's queue holds before upstream demand waits (0: no limit)", {}},
      engine_key{"shuffle_demands_on_first_dispatch", dispatcher, t::boolean, {}, d::boolean(false), {}, every_role,
                 bit(dispatcher_kind::demand), false, {}, "shuffle consumers of equal demand once", {}},

      engine_key{"max_restarts", restart, t::integer, key_range{0, 1'000'000}, d::number(0), {}, every_role, every_kind, false, {},
                 "restarts allowed within max_seconds (0: the first failure fails the run)", {}},
      engine_key{"max_seconds", restart, t::number, key_range{0, 86'400, false, true}, d::number(5), {}, every_role, every_kind,
                 false, {}, "the window restarts are counted in, a day at most", {}},

      engine_key{"retry", on_error, t::object, {}, {}, {}, every_role, every_kind, false, {},
                 "run a failed input again, waiting backoff_ms, doubled each time up to max_backoff_ms", {}},
      engine_key{"dead_letter", on_error, t::string, {}, {}, {}, every_role, every_kind, false, {},
                 "the stage that takes inputs still failing, with what failed (else the stage fails)", {}},

      engine_key{"max", retry, t::integer, key_range{0, 1000}, d::number(3), {}, every_role, every_kind, false, {},
                 "retries of a failed input (attempts are max + 1)", {}},
      engine_key{"backoff_ms", retry, t::integer, key_range{0, 3'600'000}, d::number(100), {}, every_role, every_kind, false, {},
                 "the wait before the first retry; doubled before each next one", {}},
      engine_key{"max_backoff_ms", retry, t::integer, key_range{0, 86'400'000}, d::number(10'000), {}, every_role, every_kind, false, {},
                 "the longest wait between two retries", {}},
  };
}();

/// The key `name` of `scope`; nullptr if there is none.
constexpr const engine_key* find_engine_key(key_scope scope, std::string_view name) noexcept {
  for (const engine_key& k : engine_key_table) {
    if (k.scope == scope && k.name == name) return &k;
  }
  return nullptr;
}

/// The key `name` of `scope`, which must exist (a compile-time error in a constant expression).
/// By index, not through find_engine_key: GCC 12 cannot evaluate a pointer's comparison with
/// nullptr in a constant expression under -fsanitize=undefined.
constexpr const engine_key& engine_key_of(key_scope scope, std::string_view name) {
  for (std::size_t i = 0; i < engine_key_table.size(); ++i) {
    if (engine_key_table[i].scope == scope && engine_key_table[i].name == name) return engine_key_table[i];
  }
  throw "sluice: no such engine key";  // NOLINT: only reached in constant evaluation by a typo
}

/// Every numeric engine key's range, from the table (the names the loader and tests use).
namespace engine_key_ranges {
inline constexpr key_range concurrency = *engine_key_of(key_scope::stage, "concurrency").range;
inline constexpr key_range buffer_size = *engine_key_of(key_scope::stage, "buffer_size").range;
inline constexpr key_range max_demand = *engine_key_of(key_scope::subscription, "max_demand").range;
inline constexpr key_range min_demand = *engine_key_of(key_scope::subscription, "min_demand").range;
inline constexpr key_range partitions = *engine_key_of(key_scope::dispatcher, "partitions").range;
inline constexpr key_range max_queued = *engine_key_of(key_scope::dispatcher, "max_queued").range;  ///< 0: no limit
inline constexpr key_range max_restarts = *engine_key_of(key_scope::restart, "max_restarts").range;
inline constexpr key_range max_seconds = *engine_key_of(key_scope::restart, "max_seconds").range;  ///< a day at most
inline constexpr key_range retry_max = *engine_key_of(key_scope::retry, "max").range;
inline constexpr key_range backoff_ms = *engine_key_of(key_scope::retry, "backoff_ms").range;
inline constexpr key_range max_backoff_ms = *engine_key_of(key_scope::retry, "max_backoff_ms").range;
}  // namespace engine_key_ranges

/// The numeric default of a key that has one (a compile-time error in a constant expression if not).
constexpr double engine_key_default(key_scope scope, std::string_view name) {
  const engine_key& k = engine_key_of(scope, name);
  if (k.default_value.type != key_default::kind::number) throw "sluice: engine key without a numeric default";  // NOLINT
  return k.default_value.number;
}

/// The numeric defaults, from the table (the model's members start from them; the engine's own
/// defaults for max_demand and max_queued are checked against them by the loader's tests).
namespace engine_key_defaults {
inline constexpr std::size_t concurrency = static_cast<std::size_t>(engine_key_default(key_scope::stage, "concurrency"));
inline constexpr std::size_t max_demand = static_cast<std::size_t>(engine_key_default(key_scope::subscription, "max_demand"));
inline constexpr std::size_t max_queued = static_cast<std::size_t>(engine_key_default(key_scope::dispatcher, "max_queued"));
inline constexpr std::size_t max_restarts = static_cast<std::size_t>(engine_key_default(key_scope::restart, "max_restarts"));
inline constexpr double max_seconds = engine_key_default(key_scope::restart, "max_seconds");
inline constexpr std::size_t retry_max = static_cast<std::size_t>(engine_key_default(key_scope::retry, "max"));
inline constexpr std::int64_t backoff_ms = static_cast<std::int64_t>(engine_key_default(key_scope::retry, "backoff_ms"));
inline constexpr std::int64_t max_backoff_ms = static_cast<std::int64_t>(engine_key_default(key_scope::retry, "max_backoff_ms"));
}  // namespace engine_key_defaults

}  // namespace sluice::pipeline
