// Integration tests of the `nats` sink and source against a real nats-server (JetStream on, a
// free loopback port, a temporary store), through the real `sluice` binary. The test's own side
// (subscriber, publisher, stream) uses libnats directly.
#include <doctest/doctest.h>

#include <signal.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "example_checks.hpp"
#include "nats_server.hpp"

using namespace sluice::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// A pipeline of two stages, `in` feeding `out`, with the given types and options.
std::string two_stages(const std::string& in_type, const json& in_options, const std::string& out_type,
                       const json& out_options) {
  json p = {{"version", 1},
            {"stages",
             {{"in", {{"type", in_type}, {"options", in_options}}},
              {"out", {{"type", out_type}, {"options", out_options}, {"subscribe_to", "in"}}}}}};
  return p.dump(2);
}

/// `n` lines {"n": 1} ... {"n": n} in `name`; returns its path.
fs::path numbered_lines(const temp_dir& dir, const std::string& name, int n) {
  std::string text;
  for (int i = 1; i <= n; ++i) text += json{{"n", i}}.dump() + "\n";
  return dir.write(name, text);
}

/// A synchronous subscription of the test's own to `subject`, in place at the server on return.
nats_subscription subscribe(natsConnection* nc, const std::string& subject) {
  natsSubscription* sub = nullptr;
  REQUIRE(natsConnection_SubscribeSync(&sub, nc, subject.c_str()) == NATS_OK);
  natsSubscription_SetPendingLimits(sub, -1, -1);  // the test keeps everything
  REQUIRE(natsConnection_FlushTimeout(nc, 5000) == NATS_OK);
  return nats_subscription(sub);
}

/// The next message on `sub` within `timeout_ms`, or null.
nats_msg next(natsSubscription* sub, int64_t timeout_ms) {
  natsMsg* m = nullptr;
  if (natsSubscription_NextMsg(&m, sub, timeout_ms) != NATS_OK) return nullptr;
  return nats_msg(m);
}

std::string data_of(natsMsg* m) { return std::string(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m))); }

void publish(natsConnection* nc, const std::string& subject, const std::string& payload) {
  REQUIRE(natsConnection_Publish(nc, subject.c_str(), payload.data(), static_cast<int>(payload.size())) == NATS_OK);
}

/// A JetStream context on `nc` and a file stream `name` over `subjects` (one pattern).
js_ctx add_stream(natsConnection* nc, const std::string& name, const std::string& subject) {
  jsCtx* js = nullptr;
  REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
  js_ctx ctx(js);
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = name.c_str();
  const char* subjects[] = {subject.c_str()};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  jsStreamInfo* info = nullptr;
  jsErrCode code{};
  REQUIRE(js_AddStream(&info, js, &cfg, nullptr, &code) == NATS_OK);
  jsStreamInfo_Destroy(info);
  return ctx;
}

std::uint64_t stream_messages(jsCtx* js, const std::string& name) {
  jsStreamInfo* info = nullptr;
  jsErrCode code{};
  REQUIRE(js_GetStreamInfo(&info, js, name.c_str(), nullptr, &code) == NATS_OK);
  const std::uint64_t n = info->State.Msgs;
  jsStreamInfo_Destroy(info);
  return n;
}

/// Starts `pipeline` (a nats source into out.jsonl) and waits until its subscription is live:
/// probes {"probe": true} go to `subject` until one reaches the output file. Returns the child.
child_process start_subscribed(const temp_dir& dir, const std::string& pipeline, natsConnection* nc,
                               const std::string& subject) {
  const auto file = dir.write("pipeline.json", pipeline);
  auto child = start_sluice(dir, {{"run", file.string()}});
  const auto output = dir / "out.jsonl";
  const bool live = child.await(
      [&] {
        publish(nc, subject, R"({"probe":true})");
        natsConnection_FlushTimeout(nc, 1000);
        return fs::exists(output) && fs::file_size(output) > 0;
      },
      test_clock::now() + watchdog);
  INFO("stderr: ", child.err());
  REQUIRE(live);
  return child;
}

/// The non-probe values of `values`.
std::vector<json> without_probes(const std::vector<json>& values) {
  std::vector<json> out;
  for (auto& v : values) {
    if (!v.contains("probe")) out.push_back(v);
  }
  return out;
}

}  // namespace

TEST_CASE("nats sink (core): every line reaches a subscriber once, in order") {
  nats_server server;
  temp_dir dir;
  auto nc = server.connect();
  auto sub = subscribe(nc.get(), "events.core");
  constexpr int lines = 2000;
  numbered_lines(dir, "in.jsonl", lines);
  const auto file = dir.write("p.json", two_stages("file", {{"path", "in.jsonl"}, {"format", "jsonl"}}, "nats",
                                                   {{"url", server.url()}, {"subject", "events.core"}, {"name", "core-test"}}));
  const auto r = run_sluice(dir, {{"run", file.string()}});
  INFO(describe(r));
  REQUIRE(r.code() == 0);
  CHECK(parse_summary(r.err)["out"].in == lines);
  for (int i = 1; i <= lines; ++i) {
    auto m = next(sub.get(), 5000);
    REQUIRE_MESSAGE(m, "message ", i, " did not arrive");
    REQUIRE(json::parse(data_of(m.get())) == json{{"n", i}});
  }
  CHECK_FALSE(next(sub.get(), 200));  // none twice
}

TEST_CASE("nats sink: subject_from takes each event's subject, `subject` is the fallback") {
  nats_server server;
  temp_dir dir;
  auto nc = server.connect();
  auto sub = subscribe(nc.get(), "routed.>");
  dir.write("in.jsonl", "{\"to\":\"routed.a\",\"n\":1}\n{\"n\":2}\n{\"to\":\"routed.b\",\"n\":3}\n");
  const auto file = dir.write("p.json", two_stages("file", {{"path", "in.jsonl"}, {"format", "jsonl"}}, "nats",
                                                   {{"url", server.url()}, {"subject_from", "/to"}, {"subject", "routed.other"}}));
  const auto r = run_sluice(dir, {{"run", file.string()}});
  INFO(describe(r));
  REQUIRE(r.code() == 0);
  std::vector<std::string> subjects;
  for (int i = 0; i < 3; ++i) {
    auto m = next(sub.get(), 5000);
    REQUIRE(m);
    subjects.emplace_back(natsMsg_GetSubject(m.get()));
  }
  CHECK(subjects == std::vector<std::string>{"routed.a", "routed.other", "routed.b"});
}

TEST_CASE("nats sink: subject_from without a fallback fails on an event without a subject, naming the pointer") {
  nats_server server;
  temp_dir dir;
  dir.write("in.jsonl", "{\"to\":\"x.a\"}\n{\"to\":7}\n");
  const auto file = dir.write("p.json", two_stages("file", {{"path", "in.jsonl"}, {"format", "jsonl"}}, "nats",
                                                   {{"url", server.url()}, {"subject_from", "/to"}}));
  const auto r = run_sluice(dir, {{"run", file.string()}});
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.err, "\"out\""));
  CHECK(contains(r.err, "subject_from /to: the event has a number there"));
}

TEST_CASE("nats sink with jetstream: the stream holds every line; a subject no stream covers fails clearly") {
  nats_server server;
  temp_dir dir;
  auto nc = server.connect();
  auto js = add_stream(nc.get(), "ORDERS", "orders.>");
  constexpr int lines = 3000;
  numbered_lines(dir, "in.jsonl", lines);
  SUBCASE("covered subject") {
    const auto file = dir.write("p.json", two_stages("file", {{"path", "in.jsonl"}, {"format", "jsonl"}}, "nats",
                                                     {{"url", server.url()}, {"subject", "orders.new"}, {"jetstream", true}}));
    const auto r = run_sluice(dir, {{"run", file.string()}});
    INFO(describe(r));
    REQUIRE(r.code() == 0);
    CHECK(parse_summary(r.err)["out"].in == lines);
    CHECK(stream_messages(js.get(), "ORDERS") == lines);
  }
  SUBCASE("no stream for the subject") {
    const auto file = dir.write("p.json", two_stages("file", {{"path", "in.jsonl"}, {"format", "jsonl"}}, "nats",
                                                     {{"url", server.url()}, {"subject", "nowhere.new"}, {"jetstream", true}}));
    const auto r = run_sluice(dir, {{"run", file.string()}});
    INFO(describe(r));
    CHECK(r.code() == 1);
    CHECK(contains(r.err, "stage \"out\" failed"));
    CHECK(contains(r.err, server.url()));
    CHECK(contains(r.err, "no stream covers subject \"nowhere.new\""));
    CHECK(stream_messages(js.get(), "ORDERS") == 0);
  }
}

TEST_CASE("nats source: published messages reach the file; SIGINT ends it with exit 0 and a summary") {
  nats_server server;
  temp_dir dir;
  auto nc = server.connect();
  auto child = start_subscribed(dir, two_stages("nats", {{"url", server.url()}, {"subject", "feed.>"}}, "file",
                                                {{"path", "out.jsonl"}}),
                                nc.get(), "feed.probe");
  constexpr int messages = 1000;
  for (int i = 1; i <= messages; ++i) publish(nc.get(), "feed.data", json{{"n", i}}.dump());
  REQUIRE(natsConnection_FlushTimeout(nc.get(), 5000) == NATS_OK);
  const auto output = dir / "out.jsonl";
  const bool all = child.await([&] { return without_probes(jsonl(read_file(output))).size() >= messages; },
                               test_clock::now() + watchdog);
  INFO("stderr: ", child.err());
  CHECK(all);
  child.signal(SIGINT);
  const auto status = child.wait_or_kill(watchdog);
  const std::string err = child.err();
  INFO("status: ", status.to_string(), "\nstderr: ", err);
  CHECK(status.exited);
  CHECK(status.code == 0);
  const auto values = whole_jsonl(read_file(output));
  const auto data = without_probes(values);
  REQUIRE(data.size() == messages);
  for (int i = 0; i < messages; ++i) CHECK(data[static_cast<std::size_t>(i)] == json{{"n", i + 1}});
  const auto s = parse_summary(err);
  CHECK(s["in"].out == values.size());
  CHECK(s["out"].in == values.size());
  CHECK(s["in"].dropped == 0);
}

TEST_CASE("nats source: a message that is not JSON fails the stage (on_error fail) or is skipped and counted") {
  nats_server server;
  temp_dir dir;
  auto nc = server.connect();
  SUBCASE("fail") {
    auto child = start_subscribed(dir, two_stages("nats", {{"url", server.url()}, {"subject", "bad"}}, "file",
                                                  {{"path", "out.jsonl"}}),
                                  nc.get(), "bad");
    publish(nc.get(), "bad", "this is not json");
    natsConnection_FlushTimeout(nc.get(), 5000);
    const auto status = child.wait_or_kill(watchdog);
    const std::string err = child.err();
    INFO("stderr: ", err);
    CHECK(status.exited);
    CHECK(status.code == 1);
    CHECK(contains(err, "stage \"in\" failed"));
    CHECK(contains(err, "subject \"bad\""));
    CHECK(contains(err, "not valid JSON"));
  }
  SUBCASE("skip") {
    auto child = start_subscribed(dir, two_stages("nats", {{"url", server.url()}, {"subject", "bad"}, {"on_error", "skip"}},
                                                  "file", {{"path", "out.jsonl"}}),
                                  nc.get(), "bad");
    publish(nc.get(), "bad", "this is not json");
    publish(nc.get(), "bad", R"({"after":1})");
    natsConnection_FlushTimeout(nc.get(), 5000);
    const auto output = dir / "out.jsonl";
    CHECK(child.await([&] { return contains(read_file(output), R"({"after":1})"); }, test_clock::now() + watchdog));
    child.signal(SIGINT);
    const auto status = child.wait_or_kill(watchdog);
    const std::string err = child.err();
    INFO("stderr: ", err);
    CHECK(status.code == 0);
    CHECK(parse_summary(err)["in"].skipped == 1);
  }
}

TEST_CASE("nats stages: no server at the URL ends the run with exit 1 naming the URL and the stage") {
  temp_dir dir;
  const std::string url = "nats://127.0.0.1:" + std::to_string(closed_loopback_port());
  numbered_lines(dir, "in.jsonl", 3);
  SUBCASE("sink") {
    const auto file = dir.write("p.json", two_stages("file", {{"path", "in.jsonl"}}, "nats",
                                                     {{"url", url}, {"subject", "x"}, {"connect_timeout_ms", 1000}}));
    const auto r = run_sluice(dir, {{"run", file.string()}});
    INFO(describe(r));
    CHECK(r.code() == 1);
    CHECK(contains(r.err, "stage \"out\" failed"));
    CHECK(contains(r.err, url + ": cannot connect"));
  }
  SUBCASE("source, several servers") {
    const std::string second = "nats://127.0.0.1:" + std::to_string(closed_loopback_port());
    const auto file = dir.write("p.json", two_stages("nats", {{"url", url + ", " + second}, {"subject", "x"}}, "file",
                                                     {{"path", "out.jsonl"}}));
    const auto r = run_sluice(dir, {{"run", file.string()}});
    INFO(describe(r));
    CHECK(r.code() == 1);
    CHECK(contains(r.err, "stage \"in\" failed"));
    CHECK(contains(r.err, url + ", " + second + ": cannot connect"));
  }
}

TEST_CASE("sluice check refuses bad nats options with exit 2") {
  temp_dir dir;
  const json in = {{"path", "in.jsonl"}};
  struct bad_case {
    json options;
    std::string expected;
  };
  const std::vector<bad_case> cases = {
      {json{{"url", "nats://127.0.0.1:4222"}}, "subject"},
      {json{{"subject_from", "no-slash"}}, "subject_from"},
      {json{{"subject", "x"}, {"url", "nats://a:1,,nats://b:2"}}, "url"},
      {json{{"subject", "x"}, {"tls_cert", "c.pem"}}, "tls_key"},
      {json{{"subject", "x"}, {"timeout_ms", 0}}, "timeout_ms"},
      {json{{"subject", "x"}, {"jetstream", "yes"}}, "jetstream"},
  };
  for (const auto& c : cases) {
    const auto file = dir.write("p.json", two_stages("file", in, "nats", c.options));
    const auto r = run_sluice(dir, {{"check", file.string()}});
    INFO(c.options.dump(), "\n", describe(r));
    CHECK(r.code() == 2);
    CHECK(contains(r.err, c.expected));
  }
  const auto source = dir.write("p.json", two_stages("nats", {{"url", "nats://127.0.0.1:4222"}}, "null", json::object()));
  const auto r = run_sluice(dir, {{"check", source.string()}});
  INFO(describe(r));
  CHECK(r.code() == 2);
  CHECK(contains(r.err, "subject"));
}

TEST_CASE("nats source: after the server restarts, it reconnects and receives again") {
  nats_server server;
  temp_dir dir;
  auto child = [&] {
    auto nc = server.connect();
    return start_subscribed(dir, two_stages("nats", {{"url", server.url()}, {"subject", "again"}, {"reconnect_wait_ms", 50}},
                                            "file", {{"path", "out.jsonl"}}),
                            nc.get(), "again");
  }();
  server.restart();
  auto nc = server.connect();
  const auto output = dir / "out.jsonl";
  // The subscription comes back with the connection: publish until a message gets through.
  const bool back = child.await(
      [&] {
        publish(nc.get(), "again", R"({"after_restart":true})");
        natsConnection_FlushTimeout(nc.get(), 1000);
        return contains(read_file(output), "after_restart");
      },
      test_clock::now() + watchdog);
  INFO("stderr: ", child.err());
  CHECK(back);
  child.signal(SIGINT);
  const auto status = child.wait_or_kill(watchdog);
  CHECK(status.exited);
  CHECK(status.code == 0);
}
