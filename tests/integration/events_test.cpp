// JSON pipeline events through the real `sluice` binary: exactness of what passes through, the
// jq stage's outputs beside jq's, metadata readable and settable from jq, string and array events.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

using json = nlohmann::json;
using namespace sluice::testing;

namespace {

/// Runs the pipeline `stages` (the "stages" object), written to the temp dir.
run_result run_stages(const temp_dir& dir, const json& stages) {
  const auto file = dir.write("pipeline.json", json{{"version", 1}, {"stages", stages}}.dump(2));
  return run_sluice(dir, invocation({"run", file.string()}));
}

json file_source(const std::filesystem::path& p, const char* format = "jsonl") {
  return {{"type", "file"}, {"options", {{"path", p.string()}, {"format", format}}}};
}
json file_sink(const std::filesystem::path& p, const char* from, const char* format = "jsonl") {
  return {{"type", "file"}, {"subscribe_to", from}, {"options", {{"path", p.string()}, {"format", format}}}};
}
json jq(const char* from, const std::string& filter, json more = json::object()) {
  more["filter"] = filter;
  return {{"type", "jq"}, {"subscribe_to", from}, {"options", more}};
}

/// Lines that the JSON libraries of most languages would round or rewrite.
const std::string awkward_lines =
    "18446744073709551615\n"
    "-9223372036854775808\n"
    "{\"id\": 9007199254740993, \"f\": -0.0, \"big\": 1e308, \"tiny\": 5e-324, \"x\": 1.10}\n"
    "\"tab\\there \\\"quoted\\\" \\\\ \\/ \\u0000 \\ud83d\\ude00 caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\"\n"
    "  {\"spaced\" : [1 , 2]}  \n"
    "[]\n";

}  // namespace

TEST_SUITE("events") {
  TEST_CASE("a pass-through writes every line byte for byte as read: 64-bit integers, -0.0, 1e308, escapes, UTF-8") {
    temp_dir dir;
    const auto in = dir.write("in.jsonl", awkward_lines);
    const auto out = dir / "out.jsonl";
    const auto r = run_stages(dir, {{"in", file_source(in)}, {"out", file_sink(out, "in")}});
    INFO(describe(r));
    REQUIRE(r.code() == 0);
    CHECK(read_file(out) == awkward_lines);
  }

  TEST_CASE("a jq select passes its events' bytes through; projections print as jq -c does") {
    temp_dir dir;
    const auto in = dir.write("in.jsonl", awkward_lines);
    const auto kept = dir / "kept.jsonl";
    const auto projected = dir / "projected.jsonl";
    json source = file_source(in);
    source["dispatcher"] = {{"type", "broadcast"}};
    const auto r = run_stages(dir, {{"in", source},
                                    {"keep", jq("in", "select(type == \"object\" and has(\"id\"))")},
                                    {"kept", file_sink(kept, "keep")},
                                    {"project", jq("in", "select(type == \"object\") | {id, f, big, tiny, x}")},
                                    {"projected", file_sink(projected, "project")}});
    INFO(describe(r));
    REQUIRE(r.code() == 0);
    CHECK(read_file(kept) == "{\"id\": 9007199254740993, \"f\": -0.0, \"big\": 1e308, \"tiny\": 5e-324, \"x\": 1.10}\n");
    // jq 1.6 computes in doubles: what `jq -c` prints for the same program and input.
    CHECK(read_file(projected) ==
          "{\"id\":9007199254740992,\"f\":-0,\"big\":1e+308,\"tiny\":5e-324,\"x\":1.1}\n"
          "{\"id\":null,\"f\":null,\"big\":null,\"tiny\":null,\"x\":null}\n");
  }

  TEST_CASE("jq reads an event's metadata as $meta and sets its key and time") {
    temp_dir dir;
    const auto in = dir.write("in.jsonl", "{\"user\": \"ann\", \"at\": 1700000000.25}\n{\"user\": \"bob\", \"at\": 1700000001}\n");
    const auto out = dir / "out.jsonl";
    const auto r = run_stages(
        dir, {{"in", file_source(in)},
              {"stamp", jq("in", ".", {{"key", ".user"}, {"time", ".at"}})},
              {"show", jq("stamp", "{user, source: $meta.source, path: ($meta.path | split(\"/\") | last), line: $meta.position, "
                                   "time: $meta.time, key: $meta.key, id: $meta.id}")},
              {"out", file_sink(out, "show")}});
    INFO(describe(r));
    REQUIRE(r.code() == 0);
    CHECK(read_file(out) ==
          "{\"user\":\"ann\",\"source\":\"in\",\"path\":\"in.jsonl\",\"line\":1,\"time\":1700000000.25,\"key\":\"ann\",\"id\":null}\n"
          "{\"user\":\"bob\",\"source\":\"in\",\"path\":\"in.jsonl\",\"line\":2,\"time\":1700000001,\"key\":\"bob\",\"id\":null}\n");
  }

  TEST_CASE("a time that is not a number is a jq error naming the event") {
    temp_dir dir;
    const auto in = dir.write("in.jsonl", "{\"at\": \"yesterday\"}\n");
    const auto r = run_stages(dir, {{"in", file_source(in)}, {"stamp", jq("in", ".", {{"time", ".at"}})}, {"out", file_sink(dir / "o", "stamp")}});
    CHECK(r.code() == 1);
    CHECK(contains(r.err, "time: \"yesterday\" is not a number (expected seconds since the epoch)"));
  }

  TEST_CASE("lines become JSON strings and the text format writes them back as they were") {
    temp_dir dir;
    const std::string text = "plain line\nwith \"quotes\" and \\ backslash\n\ttabbed caf\xc3\xa9\n";
    const auto in = dir.write("in.txt", text);
    const auto as_json = dir / "as.jsonl";
    const auto as_text = dir / "as.txt";
    const auto r = run_stages(dir, {{"in", {{"type", "file"}, {"options", {{"path", in.string()}}}, {"dispatcher", {{"type", "broadcast"}}}}},
                                    {"j", file_sink(as_json, "in")},
                                    {"t", file_sink(as_text, "in", "text")}});
    INFO(describe(r));
    REQUIRE(r.code() == 0);
    CHECK(read_file(as_text) == text);
    CHECK(read_file(as_json) == "\"plain line\"\n\"with \\\"quotes\\\" and \\\\ backslash\"\n\"\\ttabbed caf\xc3\xa9\"\n");
  }

  TEST_CASE("batch writes arrays of the events as they were read") {
    temp_dir dir;
    const auto in = dir.write("in.jsonl", "1\n{\"a\": 2}\n18446744073709551615\n\"x\"\n[ ]\n");
    const auto out = dir / "out.jsonl";
    const auto r = run_stages(dir, {{"in", file_source(in)},
                                    {"b", {{"type", "batch"}, {"subscribe_to", "in"}, {"options", {{"size", 2}}}}},
                                    {"out", file_sink(out, "b")}});
    INFO(describe(r));
    REQUIRE(r.code() == 0);
    CHECK(read_file(out) == "[1,{\"a\": 2}]\n[18446744073709551615,\"x\"]\n[[ ]]\n");
  }

  TEST_CASE("a partition without a pointer keys on the key a jq stage set: one key, one copy") {
    temp_dir dir;
    std::string lines;
    for (int i = 0; i < 400; ++i) lines += "{\"user\": \"u" + std::to_string(i % 8) + "\", \"i\": " + std::to_string(i) + "}\n";
    const auto in = dir.write("in.jsonl", lines);
    const auto out = dir / "out.jsonl";
    json key = jq("in", ".", {{"key", ".user"}});
    key["dispatcher"] = {{"type", "partition"}, {"partitions", 4}};
    json tag = jq("key", "{user, i}");
    tag["concurrency"] = 4;
    const auto r = run_stages(dir, {{"in", file_source(in)}, {"key", key}, {"tag", tag}, {"out", file_sink(out, "tag")}});
    INFO(describe(r));
    REQUIRE(r.code() == 0);
    // Each user's events stay in order: they all went through the same copy.
    std::map<std::string, int> last;
    std::size_t n = 0;
    for (const json& e : jsonl(read_file(out))) {
      const std::string user = e["user"];
      CHECK(e["i"].get<int>() > (last.count(user) != 0 ? last[user] : -1));
      last[user] = e["i"].get<int>();
      ++n;
    }
    CHECK(n == 400);
  }
}
