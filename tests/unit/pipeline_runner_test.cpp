// The pipeline runner's restarts, driven through running_pipeline with stage types made here: a
// source and a transform that crash a given number of times in all, and a sink that records.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <sluice/pipeline/event_json.hpp>
#include <sluice/pipeline/model.hpp>
#include <sluice/stages/builtins.hpp>
#include <sluice/pipeline/runner.hpp>
#include <sluice/stage.hpp>
#include <sluice/process/supervisor.hpp>

using namespace sluice;
using namespace sluice::pipeline;
using namespace std::chrono_literals;

namespace {

constexpr auto deadline = 30s;

/// Crashes left for the stages of one test, shared by every instance and restart.
struct crashes {
  std::atomic<int> left{0};
  /// True (and counted) if one more crash is allowed.
  bool take() {
    int n = left.load();
    while (n > 0 && !left.compare_exchange_weak(n, n - 1)) {
    }
    return n > 0;
  }
};

/// What the sink received, and a way to wait for something in it.
struct recorder {
  std::mutex mutex;  // guards events
  std::condition_variable grew;
  std::vector<json> events;

  void add(std::span<event> batch) {
    {
      std::lock_guard lock(mutex);
      for (const event& e : batch) events.push_back(e);  // through the nlohmann bridge
    }
    grew.notify_all();
  }
  /// Waits until `done(events)` holds; false after the deadline.
  template <class F>
  bool wait_until(F done) {
    std::unique_lock lock(mutex);
    return grew.wait_for(lock, deadline, [&] { return done(events); });
  }
  std::vector<json> snapshot() {
    std::lock_guard lock(mutex);
    return events;
  }
};

/// Emits 1, 2, ... up to `to` (endless without it); crashes on reaching `crash_at` while the
/// shared budget allows. With `fail_at_end`, it fails once its last event is dispatched, as a
/// source that meets bad input after good input does.
class numbers final : public producer<event> {
 public:
  numbers(const json& o, std::shared_ptr<crashes> c)
      : to_(o.value("to", std::int64_t{0})),
        crash_at_(o.value("crash_at", std::int64_t{0})),
        fail_at_end_(o.value("fail_at_end", false)),
        crashes_(std::move(c)) {}
  void handle_demand(std::size_t demand, stage_context<event>& ctx) override {
    for (std::size_t i = 0; i < demand && (to_ == 0 || next_ <= to_); ++i) {
      if (next_ == crash_at_ && crashes_->take()) throw std::runtime_error("numbers: crashed at " + std::to_string(next_));
      ctx.emit(json(next_++).get<event>());
    }
    if (to_ == 0 || next_ <= to_) return;
    ctx.stop_after_dispatch(fail_at_end_ ? exit_reason::error("numbers: bad input after " + std::to_string(to_))
                                         : exit_reason::normal());
  }

 private:
  std::int64_t to_;
  std::int64_t crash_at_;
  bool fail_at_end_;
  std::shared_ptr<crashes> crashes_;
  std::int64_t next_ = 1;
};

/// Passes events on; crashes on the `crash_at`-th event an instance sees while the budget allows.
class pass final : public producer_consumer<event, event> {
 public:
  pass(const json& o, std::shared_ptr<crashes> c) : crash_at_(o.value("crash_at", std::int64_t{0})), crashes_(std::move(c)) {}
  void handle_events(std::span<event> events, subscription_ref, stage_context<event>& ctx) override {
    for (event& e : events) {
      if (++seen_ == crash_at_ && crashes_->take()) throw std::runtime_error("pass: crashed");
      ctx.emit(std::move(e));
    }
  }

 private:
  std::int64_t crash_at_;
  std::shared_ptr<crashes> crashes_;
  std::int64_t seen_ = 0;
};

class record final : public consumer<event> {
 public:
  explicit record(std::shared_ptr<recorder> r) : r_(std::move(r)) {}
  void handle_events(std::span<event> events, subscription_ref, stage_context<no_events>&) override { r_->add(events); }

 private:
  std::shared_ptr<recorder> r_;
};

/// Records events until it has `after` of them, then exits as a sink whose reader went away.
class closing final : public consumer<event> {
 public:
  closing(const json& o, std::shared_ptr<recorder> r) : after_(o.value("after", std::size_t{1})), r_(std::move(r)) {}
  void handle_events(std::span<event> events, subscription_ref, stage_context<no_events>& ctx) override {
    r_->add(events);
    seen_ += events.size();
    if (seen_ >= after_) ctx.stop(output_closed_reason());
  }

 private:
  std::size_t after_;
  std::shared_ptr<recorder> r_;
  std::size_t seen_ = 0;
};

option_spec typed_option(std::string name, option_type t) {
  option_spec o;
  o.name = std::move(name);
  o.type = t;
  return o;
}
option_spec integer_option(std::string name) { return typed_option(std::move(name), option_type::integer); }

pipeline::stage_type type(std::string name, stage_role role) {
  pipeline::stage_type t;
  t.name = std::move(name);
  t.role = role;
  return t;
}

/// A registry with the three test types, sharing `budget` and `out`.
registry test_types(const std::shared_ptr<crashes>& budget, const std::shared_ptr<recorder>& out) {
  registry r;
  auto source = type("numbers", stage_role::source);
  source.options = {integer_option("to"), integer_option("crash_at"), typed_option("fail_at_end", option_type::boolean)};
  source.start = [budget](spawner& where, const json& o, stage_instance i) {
    return start(where, std::make_unique<numbers>(o, budget), std::move(i.engine));
  };
  r.add(std::move(source));
  auto transform = type("pass", stage_role::transform);
  transform.options = {integer_option("crash_at")};
  transform.start = [budget](spawner& where, const json& o, stage_instance i) {
    return start(where, std::make_unique<pass>(o, budget), std::move(i.engine));
  };
  r.add(std::move(transform));
  auto sink = type("record", stage_role::sink);
  sink.start = [out](spawner& where, const json&, stage_instance i) {
    stage_options<no_events> o;
    o.exit_after_last_producer = i.engine.exit_after_last_producer;
    o.counters = i.engine.counters;
    return start(where, std::make_unique<record>(out), std::move(o));
  };
  r.add(std::move(sink));
  auto closing_sink = type("closing", stage_role::sink);
  closing_sink.options = {integer_option("after")};
  closing_sink.start = [out](spawner& where, const json& o, stage_instance i) {
    stage_options<no_events> e;
    e.exit_after_last_producer = i.engine.exit_after_last_producer;
    return start(where, std::make_unique<closing>(o, out), std::move(e));
  };
  r.add(std::move(closing_sink));
  return r;
}

/// A test's pipeline and what it shares with its stages.
struct fixture {
  std::shared_ptr<crashes> budget = std::make_shared<crashes>();
  std::shared_ptr<recorder> out = std::make_shared<recorder>();
  registry types = test_types(budget, out);
  runtime rt{{.threads = 2}};

  explicit fixture(int crashes_allowed) { budget->left = crashes_allowed; }

  pipeline_spec load(const std::string& text) {
    auto doc = parse_document(text, "test.json");
    REQUIRE(doc);
    auto loaded = load_pipeline(*doc, types);
    for (auto& d : loaded.diagnostics) FAIL_CHECK(d.to_string());
    REQUIRE(loaded);
    return std::move(*loaded.pipeline);
  }
};

std::uint64_t restarts_of(const running_pipeline& p, const std::string& stage) {
  for (auto& s : p.stages()) {
    if (s.name == stage) return s.counters->restarts.load();
  }
  return 0;
}

/// Spawns on a runtime, as a stage type's start function expects.
class runtime_spawner final : public spawner {
 public:
  explicit runtime_spawner(runtime& rt) : rt_(rt) {}
  pid spawn(std::unique_ptr<behaviour> b, spawn_options o) override { return rt_.spawn(std::move(b), o); }

 private:
  runtime& rt_;
};

/// What the built-in `file` sink leaves in a file that held "0\n" after it writes 1 and 2.
std::string file_sink_output(bool restarted) {
  const auto path = std::filesystem::temp_directory_path() / ("sluice_runner_test_" + std::to_string(::getpid()) + ".jsonl");
  std::ofstream(path) << "0\n";
  registry types;
  stages::register_builtins(types);
  runtime rt({.threads = 2});
  runtime_spawner where(rt);
  stage_instance instance;
  instance.restarted = restarted;
  instance.engine.exit_after_last_producer = true;
  const pid sink = types.find("file", stage_role::sink)->start(where, {{"path", path.string()}, {"format", "jsonl"}}, std::move(instance));
  const pid source = start_from_range(rt, std::vector<event>{json(1).get<event>(), json(2).get<event>()});
  subscription_options o;
  o.cancel = cancel_mode::transient;
  REQUIRE(subscribe(rt, sink, source, o));
  REQUIRE(rt.await_exit(sink, deadline));  // it has written everything (noproc if it already has)
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  return text;
}

std::ptrdiff_t count_of(const std::vector<json>& events, int value) {
  return std::count(events.begin(), events.end(), json(value));
}

}  // namespace

TEST_SUITE("pipeline_runner") {
  TEST_CASE("a partition dispatcher's max_queued and a demand dispatcher's shuffle come from the file and run") {
    fixture f(0);
    pipeline_spec partitioned = f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers", "options": {"to": 1000},
              "dispatcher": {"type": "partition", "partitions": 2, "max_queued": 1}},
      "sink": {"type": "record", "subscribe_to": {"stage": "src", "max_demand": 10, "min_demand": 5}, "concurrency": 2}}})");
    REQUIRE(partitioned.find("src") != nullptr);
    CHECK(partitioned.find("src")->dispatcher.max_queued == std::optional<std::size_t>(1));
    pipeline_spec shuffled = f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers", "options": {"to": 1000},
              "dispatcher": {"type": "demand", "shuffle_demands_on_first_dispatch": true}},
      "sink": {"type": "record", "subscribe_to": {"stage": "src", "max_demand": 10, "min_demand": 5}, "concurrency": 2}}})");
    REQUIRE(shuffled.find("src") != nullptr);
    CHECK(shuffled.find("src")->dispatcher.shuffle_demands_on_first_dispatch);
    CHECK_FALSE(partitioned.find("src")->dispatcher.shuffle_demands_on_first_dispatch);
    // Both run to the end, every event delivered once (max_queued 1 holds upstream demand back
    // nearly all the time).
    for (pipeline_spec* spec : {&partitioned, &shuffled}) {
      f.out->events.clear();
      running_pipeline p(f.rt, *spec);
      auto outcome = p.wait_for(deadline);
      REQUIRE(outcome);
      CHECK(outcome->ok);
      auto events = f.out->snapshot();
      REQUIRE(events.size() == 1000);
      std::sort(events.begin(), events.end());
      for (int i = 0; i < 1000; ++i) CHECK(events[static_cast<std::size_t>(i)] == json(i + 1));
    }
  }

  TEST_CASE("a restarted source starts again from scratch and the pipeline still ends normally") {
    fixture f(1);
    running_pipeline p(f.rt, f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers", "options": {"to": 100, "crash_at": 31}, "restart": {"max_restarts": 1}},
      "sink": {"type": "record", "subscribe_to": {"stage": "src", "max_demand": 10, "min_demand": 5}}}})"));
    auto outcome = p.wait_for(deadline);
    REQUIRE(outcome);
    CHECK(outcome->ok);
    CHECK(restarts_of(p, "src") == 1);
    const auto events = f.out->snapshot();
    CHECK(count_of(events, 1) == 2);  // delivered before the crash, and again by the fresh source
    CHECK(count_of(events, 100) == 1);
    CHECK(events.back() == json(100));
  }

  TEST_CASE("drain reaches a source that was restarted") {
    fixture f(1);
    running_pipeline p(f.rt, f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers", "options": {"crash_at": 50}, "restart": {"max_restarts": 1}},
      "sink": {"type": "record", "subscribe_to": {"stage": "src", "max_demand": 10, "min_demand": 5}}}})"));
    // The fresh source has started over once 1 has arrived twice.
    REQUIRE(f.out->wait_until([](const std::vector<json>& e) { return count_of(e, 1) == 2; }));
    p.drain();
    auto outcome = p.wait_for(deadline);
    REQUIRE(outcome);
    CHECK(outcome->ok);
    CHECK(restarts_of(p, "src") == 1);
  }

  TEST_CASE("more crashes than max_restarts within max_seconds fail the run, restarts exhausted") {
    fixture f(3);
    running_pipeline p(f.rt, f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers", "options": {"to": 100, "crash_at": 5}, "restart": {"max_restarts": 2, "max_seconds": 60}},
      "sink": {"type": "record", "subscribe_to": "src"}}})"));
    auto outcome = p.wait_for(deadline);
    REQUIRE(outcome);
    CHECK_FALSE(outcome->ok);
    CHECK(outcome->failed_stage == "src");
    CHECK(outcome->restarts_exhausted);
    CHECK(outcome->reason == exit_reason::error("numbers: crashed at 5"));
    CHECK(restarts_of(p, "src") == 2);
  }

  TEST_CASE("on_restart hears of each restart as it happens; a hook that throws changes nothing") {
    fixture f(3);
    std::mutex m;
    std::vector<restart_notice> heard;
    running_pipeline p(f.rt, f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers", "options": {"to": 100, "crash_at": 5}, "restart": {"max_restarts": 2, "max_seconds": 60}},
      "sink": {"type": "record", "subscribe_to": "src"}}})"),
                       {.on_restart = [&](const restart_notice& n) {
                         std::lock_guard lock(m);
                         heard.push_back(n);
                         throw std::runtime_error("a reporting hook that fails");
                       }});
    auto outcome = p.wait_for(deadline);
    REQUIRE(outcome);
    CHECK(outcome->restarts_exhausted);  // the third crash, as without a hook
    CHECK(restarts_of(p, "src") == 2);
    std::lock_guard lock(m);
    REQUIRE(heard.size() == 2);  // the restarts, not the final crash
    for (std::size_t i = 0; i < heard.size(); ++i) {
      CHECK(heard[i].stage == "src");
      CHECK(heard[i].copy == 0);
      CHECK(heard[i].reason == exit_reason::error("numbers: crashed at 5"));
      CHECK(heard[i].recent == i + 1);
    }
  }

  TEST_CASE("without a restart key the first crash fails the run, and restarts are not said to be exhausted") {
    fixture f(1);
    running_pipeline p(f.rt, f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers", "options": {"to": 100, "crash_at": 5}},
      "sink": {"type": "record", "subscribe_to": "src"}}})"));
    auto outcome = p.wait_for(deadline);
    REQUIRE(outcome);
    CHECK_FALSE(outcome->ok);
    CHECK(outcome->failed_stage == "src");
    CHECK_FALSE(outcome->restarts_exhausted);
    CHECK(restarts_of(p, "src") == 0);
  }

  TEST_CASE("a running pipeline is a supervision tree: a supervisor per stage over its copies; a failed copy alone is replaced") {
    fixture f(0);
    std::promise<restart_notice> restarted;
    run_hooks hooks;
    hooks.on_restart = [&](const restart_notice& n) { restarted.set_value(n); };
    running_pipeline p(f.rt, f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers"},
      "mid": {"type": "pass", "concurrency": 2, "restart": {"max_restarts": 1}, "subscribe_to": "src"},
      "sink": {"type": "record", "subscribe_to": "mid"}}})"), std::move(hooks));
    auto ids = [](const std::vector<child_info>& children) {
      std::string out;
      for (const child_info& c : children) out += (out.empty() ? "" : " ") + c.id;
      return out;
    };
    auto children = [&](pid sup) {
      auto r = which_children(f.rt, sup, deadline);
      REQUIRE(r);
      return r.value();
    };
    const auto stages = children(p.supervisor());
    REQUIRE(ids(stages) == "src mid sink");
    const auto before = children(stages[1].child);
    REQUIRE(ids(before) == "mid mid#2");
    REQUIRE(f.out->wait_until([](auto& e) { return e.size() >= 100; }));  // flowing through both copies

    f.rt.exit(before[0].child, exit_reason::error("pulled the plug"));
    auto done = restarted.get_future();
    REQUIRE(done.wait_for(deadline) == std::future_status::ready);
    const restart_notice notice = done.get();
    CHECK(notice.stage == "mid");
    CHECK(notice.copy == 0);
    CHECK(notice.reason == exit_reason::error("pulled the plug"));
    CHECK(notice.recent == 1);
    const auto after = children(stages[1].child);
    REQUIRE(ids(after) == "mid mid#2");
    CHECK(after[0].child != before[0].child);  // replaced
    CHECK(after[1].child == before[1].child);  // one_for_one: its sibling kept running
    const std::size_t seen = f.out->snapshot().size();
    CHECK(f.out->wait_until([&](auto& e) { return e.size() >= seen + 1000; }));  // and events flow on
    p.drain();
    auto outcome = p.wait_for(deadline);
    REQUIRE(outcome);
    CHECK(outcome->ok);
    CHECK(restarts_of(p, "mid") == 1);
  }

  TEST_CASE("a transform restarted after its producer has finished ends, and so does its consumer") {
    fixture f(1);
    // The source sends its five events in one batch and ends; the transform crashes on the third.
    running_pipeline p(f.rt, f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers", "options": {"to": 5}},
      "mid": {"type": "pass", "options": {"crash_at": 3}, "subscribe_to": "src", "restart": {"max_restarts": 1}},
      "sink": {"type": "record", "subscribe_to": "mid"}}})"));
    auto outcome = p.wait_for(deadline);
    REQUIRE(outcome);
    CHECK(outcome->ok);
    CHECK(restarts_of(p, "mid") == 1);
    CHECK(f.out->snapshot().empty());  // the batch in flight is lost: at most once
  }

  TEST_CASE("the consumers of a crashed transform get the events of its replacement, every copy") {
    fixture f(2);
    running_pipeline p(f.rt, f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers", "options": {"to": 2000}},
      "mid": {"type": "pass", "options": {"crash_at": 25}, "concurrency": 2, "restart": {"max_restarts": 2},
              "subscribe_to": {"stage": "src", "max_demand": 10, "min_demand": 5}},
      "sink": {"type": "record", "concurrency": 2, "subscribe_to": "mid"}}})"));
    auto outcome = p.wait_for(deadline);
    REQUIRE(outcome);
    CHECK(outcome->ok);
    CHECK(restarts_of(p, "mid") == 2);
    const auto events = f.out->snapshot();
    CHECK(count_of(events, 2000) == 1);
    CHECK(events.size() >= 2000 - 4 * 10);  // each crash loses what its instance held: 2 x max_demand at most
    CHECK(events.size() < 2000);
  }

  TEST_CASE("each stage's wall time runs from its start to its last instance's exit") {
    fixture f(0);
    running_pipeline p(f.rt, f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers", "options": {"to": 1000}},
      "sink": {"type": "record", "subscribe_to": "src"}}})"));
    auto outcome = p.wait_for(deadline);
    REQUIRE(outcome);
    CHECK(outcome->ok);
    for (auto& s : p.stages()) {
      CAPTURE(s.name);
      CHECK(s.wall > std::chrono::steady_clock::duration::zero());
      CHECK(s.wall <= outcome->wall + 1s);
    }
  }

  TEST_CASE("a restarted file sink appends to what its predecessor wrote; a first start truncates") {
    CHECK(file_sink_output(true) == "0\n1\n2\n");
    CHECK(file_sink_output(false) == "1\n2\n");
  }
}

TEST_SUITE("pipeline_loader") {
  TEST_CASE("an option claimed as a file by one stage type collides with the same name of another type") {
    registry types;
    stages::register_builtins(types);
    // A user's sink whose "path" claims its value without saying it is a file.
    auto archive = type("archive", stage_role::sink);
    option_spec path;
    path.name = "path";
    path.type = option_type::string;
    path.required = true;
    path.claim = option_claim::exclusive;
    archive.options = {path};
    archive.start = [](spawner& where, const json&, stage_instance) {
      return start(where, std::make_unique<record>(std::make_shared<recorder>()));
    };
    types.add(std::move(archive));
    const std::string text = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "a": {"type": "file", "subscribe_to": "numbers", "options": {"path": "claimed.jsonl"}},
    "b": {"type": "archive", "subscribe_to": "numbers", "options": {"path": "./claimed.jsonl"}}
  }
})";
    auto doc = parse_document(text, "test.json");
    REQUIRE(doc);
    auto loaded = load_pipeline(*doc, types);
    REQUIRE(loaded.diagnostics.size() == 1);
    const diagnostic& d = loaded.diagnostics.front();
    CHECK(d.pointer == "/stages/b/options/path");
    CHECK(d.to_string().find("\"path\" \"./claimed.jsonl\" names the same file as stage \"a\"'s \"claimed.jsonl\"") !=
          std::string::npos);
  }
}

TEST_SUITE("pipeline_wind_down") {
  TEST_CASE("the events a source emitted before it failed reach the sink through the stages after it") {
    fixture f(0);
    running_pipeline p(f.rt, f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers", "options": {"to": 5000, "fail_at_end": true}},
      "mid": {"type": "pass", "subscribe_to": {"stage": "src", "max_demand": 100, "min_demand": 50}, "concurrency": 2},
      "sink": {"type": "record", "subscribe_to": {"stage": "mid", "max_demand": 10, "min_demand": 5}}}})"));
    auto outcome = p.wait_for(deadline);
    REQUIRE(outcome);
    CHECK_FALSE(outcome->ok);
    CHECK(outcome->failed_stage == "src");
    CHECK(outcome->reason.to_string().find("bad input after 5000") != std::string::npos);
    CHECK_MESSAGE(outcome->killed_at_deadline.empty(), outcome->killed_at_deadline.front());
    auto events = f.out->snapshot();
    std::sort(events.begin(), events.end());
    REQUIRE(events.size() == 5000);
    for (int i = 0; i < 5000; ++i) CHECK(events[static_cast<std::size_t>(i)] == json(i + 1));
  }

  TEST_CASE("a failed transform: what reached the stages after it is delivered, its producers are stopped") {
    fixture f(1);
    running_pipeline p(f.rt, f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers"},
      "mid": {"type": "pass", "options": {"crash_at": 1000}, "subscribe_to": {"stage": "src", "max_demand": 10, "min_demand": 5}},
      "sink": {"type": "record", "subscribe_to": {"stage": "mid", "max_demand": 10, "min_demand": 5}}}})"));
    auto outcome = p.wait_for(deadline);  // the endless source was stopped: it ends
    REQUIRE(outcome);
    CHECK_FALSE(outcome->ok);
    CHECK(outcome->failed_stage == "mid");
    CHECK_MESSAGE(outcome->killed_at_deadline.empty(), outcome->killed_at_deadline.front());
    // Every event `mid` emitted before its crash came through, in order, with no gap.
    auto events = f.out->snapshot();
    REQUIRE(events.size() >= 990);
    REQUIRE(events.size() < 1000);
    for (std::size_t i = 0; i < events.size(); ++i) CHECK(events[i] == json(i + 1));
  }

  TEST_CASE("a sink whose reader went away ends the run cleanly: the sources stop, the other sinks finish") {
    fixture f(0);
    running_pipeline p(f.rt, f.load(R"({"version": 1, "stages": {
      "src": {"type": "numbers", "dispatcher": {"type": "broadcast"}},
      "head": {"type": "closing", "options": {"after": 100}, "subscribe_to": {"stage": "src", "max_demand": 10, "min_demand": 5}},
      "rest": {"type": "pass", "subscribe_to": {"stage": "src", "max_demand": 10, "min_demand": 5}},
      "sink": {"type": "record", "subscribe_to": {"stage": "rest", "max_demand": 10, "min_demand": 5}}}})"));
    auto outcome = p.wait_for(deadline);  // an endless source, stopped because `head` closed
    REQUIRE(outcome);
    CHECK(outcome->ok);
    CHECK(outcome->output_closed == std::optional<std::string>("head"));
    CHECK_MESSAGE(outcome->killed_at_deadline.empty(), outcome->killed_at_deadline.front());
  }
}
