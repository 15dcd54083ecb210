// tests/integration/bad_pipelines.hpp: pipelines with one configuration problem each, and the
// diagnostic each must give (`file:line:col: /pointer: message`, exit code 2).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cli_support.hpp"

namespace sluice::testing {

/// A pipeline with one problem, and the diagnostic it must give.
struct bad_pipeline {
  const char* name;
  std::string text;
  std::string pointer;   ///< the JSON pointer the diagnostic names
  std::string position;  ///< its "line:col"
  std::string message;   ///< text the diagnostic contains after `pointer: `
};

// A valid two-stage pipeline, for reference: each bad one below changes one thing in it.
//   {"version": 1, "stages": {"numbers": {"type": "range", "options": {"to": 10}},
//                             "out": {"type": "null", "subscribe_to": "numbers"}}}
inline std::vector<bad_pipeline> bad_pipelines() {
  std::vector<bad_pipeline> cases;
  auto add = [&](const char* name, std::string text, std::string pointer, std::string position, std::string message) {
    cases.push_back({name, std::move(text), std::move(pointer), std::move(position), std::move(message)});
  };
  std::string t;

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10},},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("malformed JSON", t, "/stages/numbers", position_of(t, ",}"), "trailing comma before '}'");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10, "to": 20}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("duplicate key", t, "/stages/numbers/options", position_of(t, "\"to\": 20"),
      "duplicate key \"to\", first at " + position_of(t, "\"to\": 10"));

  t = R"({
  "version": 2,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("unknown version", t, "/version", position_of(t, "\"version\": ", "2"), "unknown version 2");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "rnage", "options": {"to": 10}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("unknown stage type", t, "/stages/numbers/type", position_of(t, "\"rnage\""),
      "unknown stage type \"rnage\" (did you mean \"range\"?");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"too": 10}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("unknown option", t, "/stages/numbers/options/too", position_of(t, "\"too\""),
      "unknown option \"too\" for \"range\" (one of: from, to, step)");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": "ten"}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("ill-typed option", t, "/stages/numbers/options/to", position_of(t, "\"ten\""), "got a string (an integer)");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "out": {"type": "null", "subscribe_to": ["numbers", "nowhere"]}
  }
})";
  add("missing producer", t, "/stages/out/subscribe_to/1", position_of(t, "\"nowhere\""), "no stage named \"nowhere\"");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "echo": {"type": "jq", "options": {"filter": "."}, "subscribe_to": ["numbers", "echo"]},
    "out": {"type": "null", "subscribe_to": "echo"}
  }
})";
  add("self-reference", t, "/stages/echo/subscribe_to/1", position_of(t, "[\"numbers\", ", "\"echo\""),
      "a stage cannot subscribe to itself");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "left": {"type": "jq", "options": {"filter": "."}, "subscribe_to": ["numbers", "right"]},
    "right": {"type": "jq", "options": {"filter": "."}, "subscribe_to": "left"},
    "out": {"type": "null", "subscribe_to": "right"}
  }
})";
  add("cycle", t, "/stages/right/subscribe_to", position_of(t, "\"right\": {", "\"left\""),
      "subscription cycle: left -> right -> left");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "out": {"type": "null", "subscribe_to": "numbers"},
    "orphan": {"type": "null"}
  }
})";
  add("consumer with no producer", t, "/stages/orphan", position_of(t, "\"orphan\": ", "{"), "a sink with no producer");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "spare": {"type": "range", "options": {"to": 5}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("producer with no consumer", t, "/stages/spare", position_of(t, "\"spare\": ", "{"),
      "a source with no consumer: nothing subscribes to \"spare\"");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "out": {"type": "null", "subscribe_to": [{"stage": "numbers", "max_demand": 10, "min_demand": 10}]}
  }
})";
  add("min_demand >= max_demand", t, "/stages/out/subscribe_to/0/min_demand", position_of(t, "\"min_demand\": ", "10"),
      "min_demand");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}, "dispatcher": {"type": "partition", "partitions": 2}},
    "even": {"type": "null", "subscribe_to": {"stage": "numbers", "partition": 0}},
    "odd": {"type": "null", "subscribe_to": {"stage": "numbers", "partition": 2}}
  }
})";
  add("partition that does not exist", t, "/stages/odd/subscribe_to/partition", position_of(t, "\"odd\": ", "2"),
      "no partition 2 in \"numbers\" (a partition from 0 to 1)");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}, "dispatcher": {"type": "partition", "partitions": 1, "max_queued": -1}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("negative max_queued", t, "/stages/numbers/dispatcher/max_queued", position_of(t, "-1"), "got -1 (an integer from 0 to 10000000)");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}, "dispatcher": {"type": "broadcast", "max_queued": 5}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("a partition key on a broadcast dispatcher", t, "/stages/numbers/dispatcher/max_queued",
      position_of(t, "\"max_queued\""), "only a partition dispatcher takes \"max_queued\"");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10},
                "dispatcher": {"type": "partition", "partitions": 1, "shuffle_demands_on_first_dispatch": true}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("shuffle on a partition dispatcher", t, "/stages/numbers/dispatcher/shuffle_demands_on_first_dispatch",
      position_of(t, "\"shuffle_demands_on_first_dispatch\""),
      "only a demand dispatcher takes \"shuffle_demands_on_first_dispatch\"");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}, "dispatcher": {"type": "demand", "shuffle_demands_on_first_dispatch": 1}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("shuffle that is not a boolean", t, "/stages/numbers/dispatcher/shuffle_demands_on_first_dispatch",
      position_of(t, "\"shuffle_demands_on_first_dispatch\": ", "1"), "got an integer (true or false)");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "echo": {"type": "jq", "options": {"filter": "select(. >"}, "subscribe_to": "numbers"},
    "out": {"type": "null", "subscribe_to": "echo"}
  }
})";
  add("jq program that does not compile", t, "/stages/echo/options/filter", position_of(t, "\"select"),
      "jq program does not compile");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "out": {"type": "file", "options": {"path": "${SLUICE_TEST_UNSET}/out.jsonl"}, "subscribe_to": "numbers"}
  }
})";
  add("unset environment variable", t, "/stages/out/options/path", position_of(t, "\"${"),
      "environment variable SLUICE_TEST_UNSET is not set");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "out": {"type": "null", "subscribe_to": "numbers", "restart": 3}
  }
})";
  add("restart that is not an object", t, "/stages/out/restart", position_of(t, "\"restart\": ", "3"),
      "got an integer (an object {\"max_restarts\": N, \"max_seconds\": S})");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "out": {"type": "null", "subscribe_to": "numbers", "restart": {"max_restarts": -1}}
  }
})";
  add("negative max_restarts", t, "/stages/out/restart/max_restarts", position_of(t, "-1"), "got -1 (an integer from 0 to 1000000)");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}, "restart": {"max_restarts": 1, "max_seconds": 0}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("max_seconds that is not above 0", t, "/stages/numbers/restart/max_seconds", position_of(t, "\"max_seconds\": ", "0"),
      "got 0 (a number above 0 and at most 86400)");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "out": {"type": "null", "subscribe_to": "numbers", "restart": {"max_restart": 1}}
  }
})";
  add("unknown restart key", t, "/stages/out/restart/max_restart", position_of(t, "\"max_restart\""),
      "unknown restart key \"max_restart\" (one of: max_restarts, max_seconds)");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}, "restart": {"max_restarts": 2}},
    "out": {"type": "null", "subscribe_to": {"stage": "numbers", "cancel": "permanent"}}
  }
})";
  add("permanent subscription to a restarted stage", t, "/stages/out/subscribe_to/cancel", position_of(t, "\"permanent\""),
      "cancel \"permanent\" cannot be used with restarts (\"numbers\" has a \"restart\")");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "a": {"type": "file", "subscribe_to": "numbers", "options": {"path": "out.jsonl"}},
    "b": {"type": "file", "subscribe_to": "numbers", "options": {"path": "out.jsonl"}}
  }
})";
  add("two file sinks writing one path", t, "/stages/b/options/path", position_of(t, "\"b\"", "\"out.jsonl\""),
      "\"path\" \"out.jsonl\" is also used by stage \"a\" (a \"path\" no other stage uses)");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "a": {"type": "file", "subscribe_to": "numbers", "options": {"path": "out.jsonl"}},
    "b": {"type": "file", "subscribe_to": "numbers", "options": {"path": "./out.jsonl"}}
  }
})";
  add("two file sinks writing one file under two spellings", t, "/stages/b/options/path",
      position_of(t, "\"b\"", "\"./out.jsonl"),
      "\"path\" \"./out.jsonl\" names the same file as stage \"a\"'s \"out.jsonl\"");

  t = R"({
  "version": 1,
  "stages": {
    "in": {"type": "file", "options": {"path": "data.jsonl"}},
    "again": {"type": "file", "options": {"path": "data.jsonl"}},
    "out": {"type": "file", "subscribe_to": ["in", "again"], "options": {"path": "data.jsonl"}}
  }
})";
  add("a file sink writing a file that a source reads", t, "/stages/out/options/path", position_of(t, "\"out\"", "\"data.jsonl\""),
      "\"path\" \"data.jsonl\" is also used by stage \"in\" (a \"path\" no other stage uses)");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "out": {"type": "file", "subscribe_to": "numbers", "options": {"path": "out.jsonl"}, "concurrency": 2}
  }
})";
  add("a file sink in copies", t, "/stages/out/concurrency", position_of(t, "\"concurrency\": ", "2"),
      "copies of \"out\" would share its \"path\" \"out.jsonl\" (concurrency 1: one instance per \"path\")");

  // Several writers on one stream (issue 12): whole lines from two writers interleave or overwrite.
  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "print": {"type": "stdout", "subscribe_to": "numbers", "concurrency": 2}
  }
})";
  add("a stdout sink in copies", t, "/stages/print/concurrency", position_of(t, "\"concurrency\": ", "2"),
      "copies of \"print\" would share standard output (concurrency 1: one instance per standard output)");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "a": {"type": "stdout", "subscribe_to": "numbers"},
    "b": {"type": "stdout", "subscribe_to": "numbers"}
  }
})";
  add("two stdout sinks", t, "/stages/b/type", position_of(t, "\"b\"", "\"stdout\""),
      "standard output is also used by stage \"a\" (no other stage using standard output)");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "print": {"type": "stdout", "subscribe_to": "numbers"},
    "out": {"type": "file", "subscribe_to": "numbers", "options": {"path": "/dev/stdout"}}
  }
})";
  add("a file sink writing standard output beside a stdout sink", t, "/stages/out/options/path",
      position_of(t, "\"/dev/stdout\""), "\"path\" \"/dev/stdout\" names the same file as stage \"print\"'s standard output");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "out": {"type": "file", "subscribe_to": "numbers", "options": {"path": "/proc/self/fd/1"}},
    "print": {"type": "stdout", "subscribe_to": "numbers"}
  }
})";
  add("a stdout sink beside a file sink writing /proc/self/fd/1", t, "/stages/print/type",
      position_of(t, "\"print\"", "\"stdout\""), "standard output names the same file as stage \"out\"'s \"/proc/self/fd/1\"");

  // Every engine key has a range (issue 12): 2^63 copies or events used to pass check and abort run.
  const auto engine_key = [&](const char* name, const std::string& numbers_keys, const std::string& out_keys,
                              const std::string& pointer, const std::string& value, const std::string& expected,
                              const std::string& written = "") {
    const std::string text = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10})" + numbers_keys + R"(},
    "out": {"type": "null", "subscribe_to": )" + out_keys + R"(}
  }
})";
    add(name, text, pointer, position_of(text, pointer.substr(pointer.rfind('/') + 1) + "\": ", written.empty() ? value : written),
        "got " + value + " (" + expected + ")");
  };
  const std::string n = "\"numbers\"";
  engine_key("concurrency 2^63", "", n + R"(, "concurrency": 9223372036854775808)", "/stages/out/concurrency",
             "9223372036854775808", "an integer from 1 to 1024");
  engine_key("concurrency 2^32", "", n + R"(, "concurrency": 4294967296)", "/stages/out/concurrency", "4294967296",
             "an integer from 1 to 1024");
  engine_key("max_demand 2^63", "", R"({"stage": "numbers", "max_demand": 9223372036854775808})",
             "/stages/out/subscribe_to/max_demand", "9223372036854775808", "an integer from 1 to 100000");
  engine_key("min_demand -1", "", R"({"stage": "numbers", "min_demand": -1})", "/stages/out/subscribe_to/min_demand",
             "-1", "an integer from 0 to 99999");
  engine_key("buffer_size 1e308", R"(, "buffer_size": 1e308)", n, "/stages/numbers/buffer_size", "1e+308",
             "an integer from 1 to 10000000", "1e308");
  engine_key("partitions 2^32", R"(, "dispatcher": {"type": "partition", "partitions": 4294967296})", n,
             "/stages/numbers/dispatcher/partitions", "4294967296", "an integer from 1 to 1024");
  engine_key("max_queued 2^63", R"(, "dispatcher": {"type": "partition", "partitions": 1, "max_queued": 9223372036854775808})",
             n, "/stages/numbers/dispatcher/max_queued", "9223372036854775808", "an integer from 0 to 10000000");
  engine_key("max_restarts 2^63", R"(, "restart": {"max_restarts": 9223372036854775808})", n,
             "/stages/numbers/restart/max_restarts", "9223372036854775808", "an integer from 0 to 1000000");
  engine_key("max_seconds 1e308", R"(, "restart": {"max_restarts": 1, "max_seconds": 1e308})", n,
             "/stages/numbers/restart/max_seconds", "1e+308", "a number above 0 and at most 86400", "1e308");

  // Issue 13: what the engine key table says about roles and dispatcher kinds, and a subscription
  // whose refused key leaves nothing else to say.
  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "out": {"type": "null", "subscribe_to": "numbers", "buffer_keep": "first"}
  }
})";
  add("buffer_keep on a sink", t, "/stages/out/buffer_keep", position_of(t, "\"buffer_keep\""), "a sink has no output buffer");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}, "concurrency": 2},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("concurrency on a source", t, "/stages/numbers/concurrency", position_of(t, "\"concurrency\""), "a source cannot run in copies");

  t = R"({
  "version": 1,
  "stages": {
    "spare": {"type": "range", "options": {"to": 10}},
    "numbers": {"type": "range", "options": {"to": 10}, "subscribe_to": "spare"},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("subscribe_to on a source", t, "/stages/numbers/subscribe_to", position_of(t, "\"subscribe_to\""), "a source has no producers");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "out": {"type": "null", "subscribe_to": "numbers", "dispatcher": "demand"}
  }
})";
  add("a dispatcher on a sink", t, "/stages/out/dispatcher", position_of(t, "\"dispatcher\""), "a sink has no consumers to dispatch to");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}, "dispatcher": "partition"},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("a partition dispatcher without partitions", t, "/stages/numbers/dispatcher", position_of(t, "\"partition\""),
      "a partition dispatcher needs \"partitions\"");

  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}, "dispatcher": {"type": "partition", "partitions": 2}},
    "out": {"type": "null", "subscribe_to": {"stage": "numbers", "partition": 1024}, "concurrency": 1}
  }
})";
  add("a partition number above its range", t, "/stages/out/subscribe_to/partition", position_of(t, "1024"),
      "got 1024 (an integer from 0 to 1023)");

  // Dead letters and retries (issue 17): numbers -> double (jq) -> out, with `on_error` written in.
  const auto with_on_error = [](const std::string& double_keys, const std::string& out_keys = "") {
    return R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "double": {"type": "jq", "options": {"filter": ". * 2"}, "subscribe_to": "numbers")" + double_keys + R"(},
    "out": {"type": "null", "subscribe_to": "double")" + out_keys + R"(}
  }
})";
  };
  t = with_on_error(R"(, "on_error": {"dead_letter": "dlq"})");
  add("an unknown dead-letter stage", t, "/stages/double/on_error/dead_letter", position_of(t, "\"dlq\""),
      "no stage named \"dlq\" (one of \"numbers\", \"out\")");
  t = with_on_error(R"(, "on_error": {"dead_letter": "double"})");
  add("a stage as its own dead-letter stage", t, "/stages/double/on_error/dead_letter", position_of(t, "\"dead_letter\": ", "\"double\""),
      "a stage cannot be its own dead-letter stage");
  t = with_on_error(R"(, "on_error": {"dead_letter": "numbers"})");
  add("a source as a dead-letter stage", t, "/stages/double/on_error/dead_letter", position_of(t, "\"dead_letter\": ", "\"numbers\""),
      "\"numbers\" is a source: it cannot take dead letters");
  t = with_on_error(R"(, "on_error": {"retry": {"max": -1}, "dead_letter": "out"})");
  add("a negative number of retries", t, "/stages/double/on_error/retry/max", position_of(t, "-1"), "got -1 (an integer from 0 to 1000)");
  t = with_on_error(R"(, "on_error": {"retry": {"backoff_ms": 500, "max_backoff_ms": 100}})");
  add("a back-off cap below the first back-off", t, "/stages/double/on_error/retry/max_backoff_ms", position_of(t, "100}"),
      "max_backoff_ms 100 is below backoff_ms 500 (at least backoff_ms)");
  t = with_on_error(R"(, "on_error": {"retry": {"tries": 3}})");
  add("an unknown retry key", t, "/stages/double/on_error/retry/tries", position_of(t, "\"tries\""),
      "unknown retry key \"tries\" (one of: max, backoff_ms, max_backoff_ms)");
  t = with_on_error(R"(, "on_error": "retry")");
  add("an on_error string that is not an action", t, "/stages/double/on_error", position_of(t, "\"retry\""),
      "got \"retry\"");
  t = with_on_error("", R"(, "on_error": {"dead_letter": "numbers"})");
  add("on_error on a stage type that does not route failures", t, "/stages/out/on_error", position_of(t, "\"on_error\""),
      "\"null\" does not route the events it fails on");
  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "double": {"type": "jq", "options": {"filter": ". * 2", "on_error": "skip"}, "subscribe_to": "numbers", "on_error": "fail"},
    "out": {"type": "null", "subscribe_to": "double"}
  }
})";
  add("on_error given twice", t, "/stages/double/on_error", position_of(t, "\"on_error\": \"fail\""),
      "\"on_error\" is given twice: here and in \"options\"");
  t = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "file", "options": {"path": "in.jsonl", "format": "jsonl"}, "on_error": {"retry": {"max": 1}, "dead_letter": "out"}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";
  add("retries on a source", t, "/stages/numbers/on_error/retry", position_of(t, "\"retry\""),
      "a source reads each input once: it cannot run one again");
  return cases;
}

}  // namespace sluice::testing
