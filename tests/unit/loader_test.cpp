// The pipeline loader on its own, driven through load_pipeline on strings: every engine key's range
// at its boundaries, the defaults it fills in, which roles and dispatcher kinds take which keys,
// and where each diagnostic points (line:col and JSON pointer). The keys come from
// engine_key_table itself, so a key added to the table without a case here fails the test.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <sluice/pipeline/engine_keys.hpp>
#include <sluice/pipeline/model.hpp>
#include <sluice/stage/partition_dispatcher.hpp>
#include <sluice/stages/builtins.hpp>

#include "../integration/bad_pipelines.hpp"
#include "pipeline/checker.hpp"

using namespace sluice;
using namespace sluice::pipeline;

namespace {

const registry& builtins() {
  static const registry types = [] {
    registry r;
    stages::register_builtins(r);
    return r;
  }();
  return types;
}

/// Parses and loads `text` (named "p.json" in diagnostics), as `sluice check` does.
load_result load(const std::string& text) {
  document_result doc = parse_document(text, "p.json");
  if (!doc) return {std::nullopt, doc.diagnostics()};
  if (auto problems = substitute_env(*doc, process_env); !problems.empty()) return {std::nullopt, problems};
  return load_pipeline(*doc, builtins());
}

std::string line_col(const diagnostic& d) { return std::to_string(d.where.line) + ":" + std::to_string(d.where.column); }

std::string all(const std::vector<diagnostic>& ds) {
  std::string out;
  for (auto& d : ds) out += d.to_string() + "\n";
  return out;
}

/// A two- or three-stage pipeline: `source_keys` go into the source "numbers" (a range), and
/// `sink_keys` into the sink "out" (null), which subscribes with `subscription`.
std::string pipeline_text(const std::string& source_keys, const std::string& subscription, const std::string& sink_keys = "") {
  return R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10})" + source_keys + R"(},
    "out": {"type": "null", "subscribe_to": )" + subscription + sink_keys + R"(}
  }
})";
}

/// A pipeline whose only use of the ranged key `k` is `value` (written as JSON), and the pointer to it.
struct placed {
  std::string text;
  std::string pointer;
};

placed with_value(const engine_key& k, const std::string& value) {
  const std::string name(k.name);
  const std::string n = "\"numbers\"";
  if (name == "concurrency") return {pipeline_text("", n, ", \"concurrency\": " + value), "/stages/out/concurrency"};
  if (name == "buffer_size") return {pipeline_text(", \"buffer_size\": " + value, n), "/stages/numbers/buffer_size"};
  if (name == "max_demand") return {pipeline_text("", R"({"stage": "numbers", "min_demand": 0, "max_demand": )" + value + "}"), "/stages/out/subscribe_to/max_demand"};
  if (name == "min_demand") {
    return {pipeline_text("", R"({"stage": "numbers", "max_demand": 100000, "min_demand": )" + value + "}"), "/stages/out/subscribe_to/min_demand"};
  }
  if (name == "partition") {
    return {pipeline_text(R"(, "dispatcher": {"type": "partition", "partitions": 1024})", R"({"stage": "numbers", "partition": )" + value + "}"),
            "/stages/out/subscribe_to/partition"};
  }
  const std::string dispatch = R"(, "dispatcher": {"type": "partition", )";
  const std::string first = R"({"stage": "numbers", "partition": 0})";
  if (name == "partitions") return {pipeline_text(dispatch + "\"partitions\": " + value + "}", first), "/stages/numbers/dispatcher/partitions"};
  if (name == "max_queued") {
    return {pipeline_text(dispatch + "\"partitions\": 1, \"max_queued\": " + value + "}", first), "/stages/numbers/dispatcher/max_queued"};
  }
  if (name == "max_restarts") return {pipeline_text("", n, ", \"restart\": {\"max_restarts\": " + value + "}"), "/stages/out/restart/max_restarts"};
  if (name == "max_seconds") {
    return {pipeline_text("", n, ", \"restart\": {\"max_restarts\": 1, \"max_seconds\": " + value + "}"), "/stages/out/restart/max_seconds"};
  }
  if (name == "max" || name == "backoff_ms" || name == "max_backoff_ms") {
    const std::string text = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "double": {"type": "jq", "options": {"filter": ". * 2"}, "subscribe_to": "numbers", "on_error": {"retry": {")" + name + "\": " + value + R"(}}},
    "out": {"type": "null", "subscribe_to": "double"}
  }
})";
    return {text, "/stages/double/on_error/retry/" + name};
  }
  FAIL("no case for the ranged engine key ", name, ": add one to with_value");
  return {};
}

std::string number_text(double v) { return json(v == static_cast<double>(static_cast<std::int64_t>(v)) ? json(static_cast<std::int64_t>(v)) : json(v)).dump(); }

/// The value's "line:col" in a text that holds it once after the key.
std::string value_position(const placed& p, const std::string& value) {
  const std::string key = p.pointer.substr(p.pointer.rfind('/') + 1);
  return testing::position_of(p.text, "\"" + key + "\": ", value);
}

}  // namespace

TEST_SUITE("loader") {

TEST_CASE("every ranged engine key takes its minimum and maximum and refuses one past each, where it is written") {
  std::size_t ranged = 0;
  for (const engine_key& k : engine_key_table) {
    if (!k.range) continue;
    ++ranged;
    const key_range r = *k.range;
    const double step = r.integer ? 1 : 0.5;
    const std::vector<double> good = {r.exclusive_minimum ? r.minimum + step : r.minimum, r.maximum};
    const std::vector<double> bad = {r.exclusive_minimum ? r.minimum : r.minimum - step, r.maximum + step};
    for (double v : good) {
      const placed p = with_value(k, number_text(v));
      const load_result loaded = load(p.text);
      INFO(k.name, " = ", number_text(v), "\n", p.text, "\n", all(loaded.diagnostics));
      CHECK(loaded);
    }
    for (double v : bad) {
      const std::string value = number_text(v);
      const placed p = with_value(k, value);
      const load_result loaded = load(p.text);
      INFO(k.name, " = ", value, "\n", p.text, "\n", all(loaded.diagnostics));
      REQUIRE(loaded.diagnostics.size() == 1);
      const diagnostic& d = loaded.diagnostics.front();
      CHECK(d.pointer == p.pointer);
      CHECK(line_col(d) == value_position(p, value));
      CHECK(d.problem == "got " + value);
      CHECK(d.expected == internal::range_text(r));
    }
  }
  CHECK(ranged == 12);  // concurrency, buffer_size, max_demand, min_demand, partition, partitions, max_queued, max_restarts,
                        // max_seconds, and on_error's retry: max, backoff_ms, max_backoff_ms
}

TEST_CASE("a ranged integer key refuses a fraction and a string, naming its range") {
  const engine_key& k = engine_key_of(key_scope::stage, "concurrency");
  for (const std::string value : {"1.5", "\"2\""}) {
    const placed p = with_value(k, value);
    const load_result loaded = load(p.text);
    INFO(value, "\n", all(loaded.diagnostics));
    REQUIRE(loaded.diagnostics.size() == 1);
    CHECK(loaded.diagnostics[0].pointer == "/stages/out/concurrency");
    CHECK(loaded.diagnostics[0].expected == "an integer from 1 to 1024");
  }
}

TEST_CASE("the loader fills in the table's defaults, which are the engine's own") {
  const load_result loaded = load(pipeline_text(R"(, "dispatcher": {"type": "partition", "partitions": 1})", R"({"stage": "numbers", "partition": 0})"));
  REQUIRE_MESSAGE(loaded, all(loaded.diagnostics));
  const stage_spec& numbers = *loaded.pipeline->find("numbers");
  const stage_spec& out = *loaded.pipeline->find("out");
  CHECK(out.concurrency == 1);
  CHECK(out.restart.max_restarts == 0);
  CHECK(out.restart.max_seconds == 5);
  CHECK_FALSE(numbers.buffer_size);  // the engine's: 10,000 for a source, unbounded for a transform
  CHECK(numbers.buffer_keep == buffer_keep::last);
  CHECK_FALSE(numbers.dispatcher.max_queued);  // partition_dispatcher's own default, checked below
  CHECK(numbers.dispatcher.key.empty());
  REQUIRE(out.subscribe_to.size() == 1);
  const subscription_options& sub = out.subscribe_to[0].options;
  CHECK(sub.max_demand == 1000);
  CHECK(sub.effective_min_demand() == 500);
  CHECK(sub.cancel == cancel_mode::transient);
  CHECK(numbers.options == json{{"from", 0}, {"step", 1}, {"to", 10}});  // the type's option defaults too

  CHECK(engine_key_defaults::max_demand == subscription_options{}.max_demand);
  CHECK(engine_key_defaults::max_queued == partition_dispatcher<json>::options{}.max_queued);
  CHECK(engine_key_defaults::concurrency == stage_spec{}.concurrency);
  CHECK(engine_key_of(key_scope::stage, "buffer_keep").default_value.text == "last");
  CHECK(stage_options<json>{}.buffer_keep == buffer_keep::last);
  CHECK(engine_key_of(key_scope::dispatcher, "shuffle_demands_on_first_dispatch").default_value.boolean ==
        dispatcher_spec{}.shuffle_demands_on_first_dispatch);
}

TEST_CASE("a stage key that does not apply to a stage's role is refused at its key, with the table's reason") {
  // A stage of each role (spare, numbers -> middle -> out), and a value that is fine where the key applies.
  const auto value_for = [](std::string_view key) -> std::string {
    if (key == "dispatcher") return "\"broadcast\"";
    if (key == "buffer_size") return "10";
    if (key == "buffer_keep") return "\"first\"";
    if (key == "concurrency") return "2";
    return "\"spare\"";  // subscribe_to
  };
  std::size_t refused = 0;
  for (const engine_key& k : engine_key_table) {
    if (k.scope != key_scope::stage || k.roles == every_role) continue;
    for (stage_role role : {stage_role::source, stage_role::transform, stage_role::sink}) {
      const std::string key(k.name);
      if (key == "subscribe_to" && role != stage_role::source) continue;  // every transform and sink has one
      const auto extra = [&](stage_role r) { return r == role ? ", \"" + key + "\": " + value_for(key) : std::string(); };
      const std::string stages = R"("spare": {"type": "range", "options": {"to": 10}},
    "numbers": {"type": "range", "options": {"to": 10})" + extra(stage_role::source) + R"(},
    "middle": {"type": "jq", "options": {"filter": "."}, "subscribe_to": ["numbers", "spare"])" + extra(stage_role::transform) + R"(},
    "out": {"type": "null", "subscribe_to": "middle")" + extra(stage_role::sink) + "}";
      const std::string text = "{\n  \"version\": 1,\n  \"stages\": {\n    " + stages + "\n  }\n}";
      const load_result loaded = load(text);
      const std::string name = role == stage_role::source ? "numbers" : role == stage_role::transform ? "middle" : "out";
      INFO(key, " on a ", to_string(role), "\n", text, "\n", all(loaded.diagnostics));
      if ((k.roles & bit(role)) != 0) {
        CHECK(loaded);
        continue;
      }
      ++refused;
      REQUIRE(loaded.diagnostics.size() == 1);
      const diagnostic& d = loaded.diagnostics[0];
      CHECK(d.pointer == "/stages/" + name + "/" + key);
      CHECK(line_col(d) == testing::position_of(text, "\"" + name + "\": {", "\"" + key + "\""));
      CHECK(d.problem == std::string(k.refusal));
    }
  }
  CHECK(refused == 5);  // subscribe_to on a source; dispatcher, buffer_size, buffer_keep on a sink; concurrency on a source
}

TEST_CASE("a dispatcher key of another dispatcher kind is refused at its key") {
  const auto value_for = [](std::string_view key) -> std::string {
    if (key == "key") return "\"/id\"";
    if (key == "shuffle_demands_on_first_dispatch") return "true";
    return "1";  // partitions, max_queued
  };
  std::size_t refused = 0;
  for (const engine_key& k : engine_key_table) {
    if (k.scope != key_scope::dispatcher || k.kinds == every_kind) continue;
    for (dispatcher_kind kind : {dispatcher_kind::demand, dispatcher_kind::broadcast, dispatcher_kind::partition}) {
      const std::string key(k.name);
      std::string dispatcher = R"({"type": ")" + std::string(to_string(kind)) + "\"";
      if (kind == dispatcher_kind::partition && key != "partitions") dispatcher += R"(, "partitions": 1)";
      dispatcher += ", \"" + key + "\": " + value_for(key) + "}";
      const std::string sub = kind == dispatcher_kind::partition ? R"({"stage": "numbers", "partition": 0})" : "\"numbers\"";
      const std::string text = pipeline_text(", \"dispatcher\": " + dispatcher, sub);
      const load_result loaded = load(text);
      INFO(key, " on a ", to_string(kind), " dispatcher\n", text, "\n", all(loaded.diagnostics));
      if ((k.kinds & bit(kind)) != 0) {
        CHECK(loaded);
        continue;
      }
      ++refused;
      REQUIRE(loaded.diagnostics.size() == 1);
      CHECK(loaded.diagnostics[0].pointer == "/stages/numbers/dispatcher/" + key);
      CHECK(line_col(loaded.diagnostics[0]) == testing::position_of(text, "\"" + key + "\""));
      CHECK(loaded.diagnostics[0].problem.starts_with("only a "));
    }
  }
  CHECK(refused == 8);  // partitions, key, max_queued on demand and broadcast; shuffle on broadcast and partition
}

TEST_CASE("a key a stage must have is asked for at the object that lacks it") {
  SUBCASE("a partition dispatcher without partitions") {
    const std::string text = pipeline_text(R"(, "dispatcher": "partition")", "\"numbers\"");
    const load_result loaded = load(text);
    REQUIRE_MESSAGE(loaded.diagnostics.size() == 1, all(loaded.diagnostics));
    CHECK(loaded.diagnostics[0].pointer == "/stages/numbers/dispatcher");
    CHECK(line_col(loaded.diagnostics[0]) == testing::position_of(text, "\"partition\""));
    CHECK(loaded.diagnostics[0].problem == "a partition dispatcher needs \"partitions\"");
  }
  SUBCASE("a subscription object without stage") {
    const std::string text = pipeline_text("", R"({"max_demand": 10})");
    const load_result loaded = load(text);
    INFO(all(loaded.diagnostics));  // also: "numbers" has no consumer left
    const auto at = std::find_if(loaded.diagnostics.begin(), loaded.diagnostics.end(),
                                 [](const diagnostic& d) { return d.pointer == "/stages/out/subscribe_to"; });
    REQUIRE(at != loaded.diagnostics.end());
    CHECK(at->problem == "missing \"stage\"");
    CHECK(line_col(*at) == testing::position_of(text, "{\"max_demand\""));
  }
}

TEST_CASE("an unknown engine key is refused at its key, listing the table's keys of its place") {
  struct unknown {
    std::string text;
    std::string pointer;
    std::string key;
    key_scope scope;
  };
  const std::vector<unknown> cases = {
      {pipeline_text(", \"buffer\": 1", "\"numbers\""), "/stages/numbers/buffer", "buffer", key_scope::stage},
      {pipeline_text("", R"({"stage": "numbers", "demand": 1})"), "/stages/out/subscribe_to/demand", "demand", key_scope::subscription},
      {pipeline_text(R"(, "dispatcher": {"type": "demand", "shuffle": true})", "\"numbers\""), "/stages/numbers/dispatcher/shuffle", "shuffle",
       key_scope::dispatcher},
      {pipeline_text("", "\"numbers\"", R"(, "restart": {"max_restart": 1})"), "/stages/out/restart/max_restart", "max_restart", key_scope::restart},
      {R"({"version": 1, "stages": {"numbers": {"type": "range"},
  "double": {"type": "jq", "options": {"filter": "."}, "subscribe_to": "numbers", "on_error": {"dead_letters": "out"}},
  "out": {"type": "null", "subscribe_to": "double"}}})", "/stages/double/on_error/dead_letters", "dead_letters", key_scope::on_error},
      {R"({"version": 1, "stages": {"numbers": {"type": "range"},
  "double": {"type": "jq", "options": {"filter": "."}, "subscribe_to": "numbers", "on_error": {"retry": {"max_retries": 3}}},
  "out": {"type": "null", "subscribe_to": "double"}}})", "/stages/double/on_error/retry/max_retries", "max_retries", key_scope::retry},
  };
  for (const auto& c : cases) {
    const load_result loaded = load(c.text);
    INFO(c.text, "\n", all(loaded.diagnostics));
    REQUIRE(loaded.diagnostics.size() == 1);
    CHECK(loaded.diagnostics[0].pointer == c.pointer);
    CHECK(line_col(loaded.diagnostics[0]) == testing::position_of(c.text, "\"" + c.key + "\""));
    CHECK(loaded.diagnostics[0].expected == "one of: " + internal::join(internal::key_names(c.scope)));
  }
}

TEST_CASE("on_error becomes the stage's error policy, and its dead_letter a subscription of the dead-letter stage") {
  const load_result loaded = load(R"({"version": 1, "stages": {
  "numbers": {"type": "range", "options": {"to": 10}},
  "double": {"type": "jq", "options": {"filter": ". * 2"}, "subscribe_to": "numbers",
             "on_error": {"retry": {"max": 2, "backoff_ms": 50}, "dead_letter": "dlq"}},
  "skipping": {"type": "jq", "options": {"filter": "."}, "subscribe_to": "double", "on_error": "skip"},
  "out": {"type": "null", "subscribe_to": "skipping"},
  "dlq": {"type": "file", "options": {"path": "dead.jsonl"}}}})");
  REQUIRE_MESSAGE(loaded, all(loaded.diagnostics));
  const stage_spec& d = *loaded.pipeline->find("double");
  REQUIRE(d.on_error);
  CHECK(d.on_error->then == error_policy::action::dead_letter);
  CHECK(d.on_error->dead_letter == "dlq");
  CHECK(d.on_error->max_retries == 2);
  CHECK(d.on_error->backoff == std::chrono::milliseconds(50));
  CHECK(d.on_error->max_backoff == std::chrono::milliseconds(engine_key_defaults::max_backoff_ms));
  CHECK(d.on_error->backoff_before(1) == std::chrono::milliseconds(50));
  CHECK(d.on_error->backoff_before(2) == std::chrono::milliseconds(100));
  CHECK(d.on_error->backoff_before(30) == std::chrono::milliseconds(10'000));  // capped at max_backoff
  const stage_spec& skipping = *loaded.pipeline->find("skipping");
  REQUIRE(skipping.on_error);
  CHECK(skipping.on_error->then == error_policy::action::skip);
  CHECK(skipping.on_error->max_retries == 0);
  CHECK_FALSE(loaded.pipeline->find("out")->on_error);
  const stage_spec& dlq = *loaded.pipeline->find("dlq");
  CHECK(dlq.role == stage_role::sink);  // a file *sink*: its producer is the stage naming it
  REQUIRE(dlq.subscribe_to.size() == 1);
  CHECK(dlq.subscribe_to[0].stage == "double");
  CHECK(dlq.subscribe_to[0].dead_letters);
  CHECK(dlq.subscribe_to[0].pointer == "/stages/double/on_error/dead_letter");
  CHECK_FALSE(loaded.pipeline->find("out")->subscribe_to[0].dead_letters);
  SUBCASE("a retry object without max retries three times") {
    const load_result r = load(R"({"version": 1, "stages": {"numbers": {"type": "range"},
  "double": {"type": "jq", "options": {"filter": "."}, "subscribe_to": "numbers", "on_error": {"retry": {}}},
  "out": {"type": "null", "subscribe_to": "double"}}})");
    REQUIRE_MESSAGE(r, all(r.diagnostics));
    CHECK(r.pipeline->find("double")->on_error->max_retries == 3);
    CHECK(r.pipeline->find("double")->on_error->then == error_policy::action::fail);
  }
}

TEST_CASE("every bad-pipeline fixture gives its diagnostic in-process, at its line:col and pointer") {
  testing::temp_dir dir;
  const std::filesystem::path previous = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());  // the fixtures' relative paths (claims stat them) stay in here
  for (const auto& c : testing::bad_pipelines()) {
    const load_result loaded = load(c.text);
    INFO(c.name, "\n", all(loaded.diagnostics));
    CHECK_FALSE(loaded);
    CHECK(loaded.diagnostics.size() == 1);
    bool found = false;
    for (const auto& d : loaded.diagnostics) {
      found = found || (d.pointer == c.pointer && line_col(d) == c.position && d.to_string().find(c.message) != std::string::npos);
    }
    CHECK_MESSAGE(found, "expected p.json:", c.position, ": ", c.pointer, ": ...", c.message);
  }
  std::filesystem::current_path(previous);
}

}  // TEST_SUITE("loader")
