// sluice/pipeline/model.hpp: a pipeline file, validated: what the runner starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sluice/pipeline/engine_keys.hpp>
#include <sluice/pipeline/json_document.hpp>
#include <sluice/pipeline/registry.hpp>
#include <sluice/stage/options.hpp>
#include <sluice/stage/subscription.hpp>

namespace sluice::pipeline {

/// One `subscribe_to` entry.
struct subscription_spec {
  std::string stage;  ///< the producer's name
  subscription_options options;
  std::string pointer;  ///< where it is in the file
  /// Made by the loader from the producer's `on_error.dead_letter`: this subscription takes only
  /// the producer's dead letters (and the producer's other consumers never see them).
  bool dead_letters = false;
};

/// A stage's `dispatcher`.
struct dispatcher_spec {
  using kind = dispatcher_kind;
  kind type = kind::demand;
  std::size_t partitions = 0;  ///< partition: how many
  std::string key;             ///< partition: JSON pointer into the event to hash ("" = whole event)
  /// partition: events a partition's queue may hold before upstream demand waits (0: no limit);
  /// unset: partition_dispatcher's default.
  std::optional<std::size_t> max_queued;
  bool shuffle_demands_on_first_dispatch = false;  ///< demand: see demand_dispatcher::options
};

/// A stage's `restart`: how often its instances may be restarted after exiting abnormally.
struct restart_spec {
  /// 0: the first abnormal exit fails the run
  std::size_t max_restarts = engine_key_defaults::max_restarts;
  /// The window restarts are counted in (all copies together).
  double max_seconds = engine_key_defaults::max_seconds;

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
  std::size_t concurrency = engine_key_defaults::concurrency;
  restart_spec restart;
  std::optional<error_policy> on_error;  ///< the `on_error` engine key, when given
  std::string pointer;  ///< "/stages/<name>"
};

/// A validated pipeline: its stages in file order.
struct pipeline_spec {
  std::string name;
  std::string file;
  /// The file's `http`: HOST:PORT where `sluice run` serves its metrics (--http and SLUICE_HTTP
  /// win over it); unchecked here.
  std::optional<std::string> http;
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
