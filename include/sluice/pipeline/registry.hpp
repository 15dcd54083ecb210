// sluice/pipeline/registry.hpp: stage types by name, for JSON pipelines.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <vector>

#include <nlohmann/json.hpp>

#include <sluice/pipeline/event.hpp>
#include <sluice/process/behaviour.hpp>
#include <sluice/process/pid.hpp>
#include <sluice/process/runtime.hpp>
#include <sluice/stage/options.hpp>

namespace sluice {

/// JSON values as configuration: pipeline files, stage options. (The events of JSON pipelines are
/// `pipeline::event`: see <sluice/pipeline/event.hpp>.)
using json = nlohmann::json;

namespace pipeline {

/// What a stage type does in a pipeline.
enum class stage_role : std::uint8_t { source, transform, sink };

/// "source", "transform" or "sink".
const char* to_string(stage_role r) noexcept;

/// The JSON type an option takes.
enum class option_type : std::uint8_t { integer, number, string, boolean, object, array, any };

/// "integer", "number", ...
const char* to_string(option_type t) noexcept;

/// What an option's value names, for the loader to keep stages from colliding on it (the name of
/// the option and the value: compared as written, or as files with `option_spec::claims_file`).
/// `shared`: any number of stage instances may use the value (a file read). `exclusive`: one stage
/// instance only, and no `shared` use either (a file written: two writers overwrite each other's
/// lines, and a reader of the file a sink truncates loses its input). A stage with an exclusive value cannot run in copies.
enum class option_claim : std::uint8_t { none, shared, exclusive };

/// One option of a stage type: checked by the loader, listed by `sluice stages`, and turned into
/// the JSON Schema by `sluice schema`.
struct option_spec {
  std::string name;
  option_type type = option_type::any;
  std::string description;
  bool required = false;
  std::optional<json> default_value;
  std::optional<double> minimum;          ///< numbers: smallest allowed value
  std::optional<double> maximum;          ///< numbers: largest allowed value (integers: at most INT64_MAX anyway)
  std::optional<std::size_t> min_length;  ///< strings: fewest characters (1: not empty)
  std::vector<std::string> one_of;        ///< strings: the allowed values (empty: any)
  /// Whether the value names something stages must not collide on, like a file (see
  /// option_claim); options claim a value together when they have the same name.
  option_claim claim = option_claim::none;
  /// The claimed value is a file path (relative to the working directory): values naming one
  /// file collide however they are written ("out.jsonl", "./out.jsonl", a symlink or hard link to
  /// it). Applies to every option of this name in the pipeline, whichever stage type it is from.
  bool claims_file = false;
};

/// Something every stage of a type claims whatever its options, as an option_claim does for an
/// option's value: the `stdout` sink claims the file standard output is, exclusively, so the
/// loader refuses two of them, copies of one, and a `file` sink writing that same file (whole lines
/// from two writers would interleave or overwrite each other).
struct type_claim {
  std::string what;   ///< for messages: "standard output"
  std::string value;  ///< what is claimed; with `file`, a path compared as a file
  option_claim claim = option_claim::exclusive;
  /// `value` is a path, compared with every file claim (claims_file options and type claims) by
  /// device and inode when it exists: "/dev/stdout" is whatever file descriptor 1 is at load time.
  bool file = false;
};

/// Live counters of one running stage (see stage_counters).
using stage_stats = stage_counters;

/// A stage's `on_error`: what it does with an input its own processing fails on (a jq runtime
/// error...). The failed input is run again up to `max_retries` times, the n-th retry waiting
/// `backoff * 2^(n-1)` (at most `max_backoff`) while the stage goes on with other inputs; then it
/// is skipped, sent to the `dead_letter` stage, or fails the stage (`fail`, the default).
struct error_policy {
  enum class action : std::uint8_t { fail, skip, dead_letter };
  action then = action::fail;  ///< after the retries
  std::size_t max_retries = 0;
  std::chrono::milliseconds backoff{100};
  std::chrono::milliseconds max_backoff{10'000};
  std::string dead_letter;  ///< action::dead_letter: the stage's name

  /// How long to wait before retry number `retry` (1 for the first).
  [[nodiscard]] std::chrono::milliseconds backoff_before(std::size_t retry) const noexcept {
    std::chrono::milliseconds wait = backoff;
    for (std::size_t i = 1; i < retry && wait < max_backoff; ++i) wait *= 2;
    return std::min(wait, max_backoff);
  }
};

/// What a stage instance gets besides its own options.
struct stage_instance {
  std::string name;            ///< the pipeline's name for the stage (copies get "name#2", ...)
  std::string pipeline_file;   ///< for messages
  stage_options<event> engine;  ///< dispatcher, buffer, dedicated thread... set by the loader
  std::shared_ptr<stage_stats> stats;
  bool restarted = false;  ///< replaces an instance that crashed (a file sink then appends)
  /// The stage's `on_error` engine key, if it has one (a type with `routes_failures` honours it;
  /// without one, the type's own default applies).
  std::optional<error_policy> on_error;
  /// With a dead-letter stage: the origin to give the dead letters this instance emits (see
  /// make_dead_letter); the engine routes events with this origin to the dead-letter stage only.
  origin_ref dead_letter_origin;
};

/// A problem with a stage's options found by a type's own check (beyond the schema), e.g. a jq
/// program that does not compile. `option` is the option's name ("" for the options object).
struct option_problem {
  std::string option;
  std::string problem;
  std::string expected;
};

/// Where a stage type starts its process: anything that can spawn. (The pipeline runner's spawner
/// links every stage to its stage supervisor from birth, so even a stage that fails in its first
/// instant is seen with its reason.)
class spawner {
 public:
  virtual ~spawner() = default;
  virtual pid spawn(std::unique_ptr<behaviour> b, spawn_options o) = 0;
};

/// A stage type: its name, role, options and how to start one. Built-ins are registered exactly
/// like user types.
struct stage_type {
  std::string name;
  stage_role role = stage_role::transform;
  std::string description;
  std::vector<option_spec> options;
  /// Event types in and out (pipeline::event for every built-in); the loader refuses a
  /// subscription whose producer's output type differs from its consumer's input type.
  const std::type_info* input = &typeid(event);
  const std::type_info* output = &typeid(event);
  /// What each stage of this type claims besides its options' values (see type_claim).
  std::vector<type_claim> claims;
  /// The type honours a stage's `on_error` engine key (retries, dead letters) for the inputs its
  /// processing fails on (see stage_instance::on_error); the loader refuses the key on other types.
  bool routes_failures = false;
  /// Checks the options beyond their schema (optional).
  std::function<std::vector<option_problem>(const json& options)> check;
  /// Starts one instance with validated options (defaults filled in) through `where` (e.g.
  /// `return start(where, std::make_unique<my_stage>(options), std::move(instance.engine));`);
  /// returns its pid. May throw (a failed start).
  std::function<pid(spawner& where, const json& options, stage_instance instance)> start;
};

/// Stage types by name. A name may have one type per role (`file` is a source and a sink: a
/// stage with producers is the sink). Not thread-safe to modify while read; fill it before loading.
class registry {
 public:
  /// Adds a type; throws std::invalid_argument if the name is taken for that role, the type has
  /// no name or no start function, or an option's default does not fit the option (its type,
  /// range, length or choices), naming the type and the option.
  void add(stage_type type);
  /// The type called `name`: the one for `role` if the name has several, else the only one.
  [[nodiscard]] const stage_type* find(const std::string& name, stage_role role) const;
  /// True if some type is called `name`.
  [[nodiscard]] bool knows(const std::string& name) const { return types_.count(name) != 0; }
  /// The registered name closest to `name` (edit distance), for "did you mean".
  [[nodiscard]] std::optional<std::string> nearest(const std::string& name) const;
  /// All types, by name (each name with its types, one per role).
  [[nodiscard]] const std::map<std::string, std::vector<stage_type>>& types() const noexcept { return types_; }

 private:
  std::map<std::string, std::vector<stage_type>> types_;
};

/// The function a plugin exports: `extern "C" void sluice_register_stages(sluice::pipeline::registry&)`.
inline constexpr const char* plugin_entry_point = "sluice_register_stages";

/// What load_plugin did: nothing to say, or the problem, naming the plugin's path.
struct plugin_result {
  std::string error;
  explicit operator bool() const noexcept { return error.empty(); }
};

/// Loads the shared library at `path` (dlopen; it stays loaded for the life of the program) and
/// calls its `sluice_register_stages(r)`. A library that cannot be loaded, has no such function, or
/// whose function throws (anything) is refused with a message naming `path`; the types it added
/// before throwing stay in `r`. Not thread-safe with other uses of `r`.
[[nodiscard]] plugin_result load_plugin(const std::string& path, registry& r);

}  // namespace pipeline
}  // namespace sluice
