// apps/sluice/test_file.hpp: a `sluice test` file, validated: test cases beside a pipeline.
//
// A test file names a pipeline (relative to the test file) and lists cases. Each case runs the
// pipeline on a virtual clock with its sources fed by the case's steps (events, `advance_ms`,
// `expect` checkpoints) and every sink captured, then checks what the sinks received.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <sluice/pipeline/model.hpp>

namespace sluice::app {

/// What one sink must have received: every one given must hold.
struct sink_expectation {
  std::string sink;
  std::optional<std::vector<nlohmann::json>> events;  ///< exactly these (in order unless `unordered`)
  bool unordered = false;
  std::optional<std::string> jq;       ///< a predicate every event satisfies (as `jq -e`)
  std::optional<std::size_t> count;    ///< this many events
  std::string pointer;                 ///< where it is in the test file
};

/// One event fed into a source.
struct fed_event {
  std::string json;                   ///< its payload, compact JSON
  std::optional<std::int64_t> time_ns;  ///< `time`; without it: the virtual clock's now
  std::optional<std::string> key;     ///< `key`, as compact JSON
};

/// One step of a case, in order.
struct test_step {
  enum class kind : std::uint8_t { feed, advance, expect };
  kind what = kind::feed;
  std::string source;            ///< feed: the source stage
  std::vector<fed_event> events; ///< feed
  std::chrono::milliseconds advance{};  ///< advance
  std::vector<sink_expectation> expect;  ///< expect: checked against what the sinks got so far
  std::string pointer;
};

struct test_case {
  std::string name;
  std::string pointer;  ///< "/tests/<i>"
  std::vector<test_step> steps;
  std::vector<sink_expectation> expect;  ///< checked once the pipeline has ended
  std::chrono::system_clock::time_point start;  ///< where the virtual wall clock starts
  pipeline::pipeline_spec spec;  ///< the pipeline, loaded with the file's, the case's and --set overrides
  std::vector<std::string> fed;  ///< the sources its steps feed
};

struct test_file {
  std::string path;
  std::string pipeline_path;
  std::vector<test_case> cases;
};

/// Reads and validates `path`, loading the pipeline once per case (with `overrides`, from --set,
/// applied last). Every problem is printed to `err` as `file:line:col: /pointer: problem`, the
/// pipeline's own problems as `sluice check` prints them; nullopt then.
std::optional<test_file> load_test_file(const std::string& path, const pipeline::registry& types,
                                        const std::vector<std::string>& overrides, std::ostream& err);

/// `text` (RFC 3339: 2024-05-01T10:00:00Z, 2024-05-01T12:00:00.250+02:00) as nanoseconds since
/// the Unix epoch, or nullopt.
std::optional<std::int64_t> parse_rfc3339_ns(const std::string& text);

}  // namespace sluice::app
