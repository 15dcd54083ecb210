// sluice/pipeline/model.hpp: a pipeline file, validated: what the runner starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sluice/pipeline/json_document.hpp>
#include <sluice/pipeline/registry.hpp>
#include <sluice/stage/options.hpp>
#include <sluice/stage/subscription.hpp>

namespace sluice::pipeline {

/// The range a numeric engine key of a pipeline file must be in (a stage's `concurrency`, a
/// subscription's `max_demand`...): checked by the loader and shown by `sluice schema`, from the
/// one table below.
struct key_range {
  double minimum;
  double maximum;
  bool integer = true;
  bool exclusive_minimum = false;  ///< the minimum itself is not allowed (max_seconds: above 0)
};

/// Every numeric engine key's range. The bounds are far above what a pipeline needs and keep a
/// typo from asking the engine for 2^63 copies or events: a producer may hold up to the sum of its
/// consumers' demand (max_demand times the copies) in one batch, and each copy is a process with a
/// mailbox, started before the run begins.
namespace engine_key_ranges {
inline constexpr key_range concurrency{1, 1024};
inline constexpr key_range max_demand{1, 100'000};
inline constexpr key_range min_demand{0, 99'999};
inline constexpr key_range buffer_size{1, 10'000'000};
inline constexpr key_range partitions{1, 1024};
inline constexpr key_range max_queued{0, 10'000'000};  ///< 0: no limit
inline constexpr key_range max_restarts{0, 1'000'000};
inline constexpr key_range max_seconds{0, 86'400, false, true};  ///< a day at most
}  // namespace engine_key_ranges

/// One `subscribe_to` entry.
struct subscription_spec {
  std::string stage;  ///< the producer's name
  subscription_options options;
  std::string pointer;  ///< where it is in the file
};

/// A stage's `dispatcher`.
struct dispatcher_spec {
  enum class kind : std::uint8_t { demand, broadcast, partition } type = kind::demand;
  std::size_t partitions = 0;  ///< partition: how many
  std::string key;             ///< partition: JSON pointer into the event to hash ("" = whole event)
  /// partition: events a partition's queue may hold before upstream demand waits (0: no limit);
  /// unset: partition_dispatcher's default.
  std::optional<std::size_t> max_queued;
  bool shuffle_demands_on_first_dispatch = false;  ///< demand: see demand_dispatcher::options
};

/// A stage's `restart`: how often its instances may be restarted after exiting abnormally.
struct restart_spec {
  std::size_t max_restarts = 0;  ///< 0: the first abnormal exit fails the run
  double max_seconds = 5;        ///< the window restarts are counted in (all copies together)

  [[nodiscard]] bool allowed() const noexcept { return max_restarts > 0; }
};

/// One stage, its options completed with defaults.
struct stage_spec {
  std::string name;
  std::string type;
  stage_role role = stage_role::transform;
  const stage_type* type_info = nullptr;  ///< owned by the registry
  json options;
  std::vector<subscription_spec> subscribe_to;
  dispatcher_spec dispatcher;
  std::optional<std::size_t> buffer_size;
  sluice::buffer_keep buffer_keep = sluice::buffer_keep::last;
  std::size_t concurrency = 1;
  restart_spec restart;
  std::string pointer;  ///< "/stages/<name>"
};

/// A validated pipeline: its stages in file order.
struct pipeline_spec {
  std::string name;
  std::string file;
  std::vector<stage_spec> stages;

  [[nodiscard]] const stage_spec* find(const std::string& stage) const;
};

/// The outcome of loading: a pipeline, or every problem found.
struct load_result {
  std::optional<pipeline_spec> pipeline;
  std::vector<diagnostic> diagnostics;
  explicit operator bool() const noexcept { return pipeline.has_value(); }
};

/// Validates a parsed document against the registry and builds the pipeline, or reports every
/// problem (each with file, line, column and JSON pointer). Starts nothing. Thread-safe.
load_result load_pipeline(const json_document& document, const registry& types);

/// Reads, substitutes environment variables, applies `--set` overrides, and loads `path`.
load_result load_pipeline_file(const std::string& path, const registry& types,
                               const std::vector<std::string>& overrides = {});

}  // namespace sluice::pipeline
