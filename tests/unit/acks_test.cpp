// End-to-end acknowledgements through the built-in stages: a source that acknowledges (as a broker
// source does) attaches one acknowledgement per event; each must settle exactly once, acked only
// after every event derived from it was written by every sink it reaches, nacked when any was lost.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <vector>

#include <unistd.h>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>

#include <sluice/pipeline/event.hpp>
#include <sluice/pipeline/model.hpp>
#include <sluice/pipeline/runner.hpp>
#include <sluice/stage.hpp>
#include <sluice/stages/builtins.hpp>

using namespace sluice;
using namespace sluice::pipeline;
using namespace std::chrono_literals;

namespace {

constexpr auto deadline = 20s;

/// How the acknowledgements of a run settled.
struct ledger {
  std::mutex mutex;
  std::condition_variable changed;
  std::uint64_t created = 0;
  std::uint64_t acked = 0;
  std::uint64_t nacked = 0;

  void settle(ack_outcome o) {
    {
      std::lock_guard lock(mutex);
      ++(o == ack_outcome::acked ? acked : nacked);
    }
    changed.notify_all();
  }
  /// Waits until every acknowledgement made has settled; false after the deadline.
  bool all_settled() {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, deadline, [&] { return acked + nacked == created; });
  }
};

class counted_ack final : public acknowledgement {
 public:
  explicit counted_ack(std::shared_ptr<ledger> l) : ledger_(std::move(l)) {}

 private:
  void settle(ack_outcome o) noexcept override {
    ledger_->settle(o);
    delete this;
  }
  std::shared_ptr<ledger> ledger_;
};

/// Emits {"n": 1} ... {"n": to}, each with an acknowledgement of its own.
class acked_numbers final : public producer<event> {
 public:
  acked_numbers(std::int64_t to, std::shared_ptr<ledger> l) : to_(to), ledger_(std::move(l)) {}
  void handle_demand(std::size_t demand, stage_context<event>& ctx) override {
    std::vector<event> batch;
    for (std::size_t i = 0; i < demand && next_ <= to_; ++i, ++next_) {
      event e = event::from_text_unchecked("{\"n\":" + std::to_string(next_) + "}");
      {
        std::lock_guard lock(ledger_->mutex);
        ++ledger_->created;
      }
      e.set_ack(ack_ref(new counted_ack(ledger_)));
      batch.push_back(std::move(e));
    }
    ctx.emit(std::move(batch));
    if (next_ > to_) ctx.stop_after_dispatch();
  }

 private:
  std::int64_t to_;
  std::shared_ptr<ledger> ledger_;
  std::int64_t next_ = 1;
};

/// Passes events on and throws on the `at`-th.
class breaks_at final : public producer_consumer<event, event> {
 public:
  explicit breaks_at(std::int64_t at) : at_(at) {}
  void handle_events(std::span<event> events, subscription_ref, stage_context<event>& ctx) override {
    for (event& e : events) {
      if (++seen_ == at_) throw std::runtime_error("breaks_at: broke");
      ctx.emit(std::move(e));
    }
  }

 private:
  std::int64_t at_;
  std::int64_t seen_ = 0;
};

option_spec integer(std::string name) {
  option_spec o;
  o.name = std::move(name);
  o.type = option_type::integer;
  return o;
}

/// The built-in types plus `acked` (source) and `breaks_at` (transform), sharing `l`.
registry types_with(const std::shared_ptr<ledger>& l) {
  registry r;
  stages::register_builtins(r);
  pipeline::stage_type source;
  source.name = "acked";
  source.role = stage_role::source;
  source.options = {integer("to")};
  source.start = [l](spawner& where, const json& o, stage_instance i) {
    return start(where, std::make_unique<acked_numbers>(o.at("to").get<std::int64_t>(), l), std::move(i.engine));
  };
  r.add(std::move(source));
  pipeline::stage_type breaks;
  breaks.name = "breaks_at";
  breaks.role = stage_role::transform;
  breaks.options = {integer("at")};
  breaks.start = [](spawner& where, const json& o, stage_instance i) {
    return start(where, std::make_unique<breaks_at>(o.at("at").get<std::int64_t>()), std::move(i.engine));
  };
  r.add(std::move(breaks));
  return r;
}

struct fixture {
  std::shared_ptr<ledger> book = std::make_shared<ledger>();
  registry types = types_with(book);
  runtime rt{{.threads = 2}};
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("sluice_acks_" + std::to_string(::getpid()));

  fixture() { std::filesystem::create_directories(dir); }
  ~fixture() { std::filesystem::remove_all(dir); }

  run_outcome run(const std::string& text) {
    auto doc = parse_document(text, "acks.json");
    REQUIRE(doc);
    auto loaded = load_pipeline(*doc, types);
    for (auto& d : loaded.diagnostics) FAIL_CHECK(d.to_string());
    REQUIRE(loaded);
    running_pipeline p(rt, *loaded.pipeline);
    auto outcome = p.wait_for(deadline);
    REQUIRE(outcome);
    return *outcome;
  }
  std::string out(const std::string& name) const { return (dir / name).string(); }
  std::size_t lines_of(const std::string& name) const {
    std::ifstream in(dir / name);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  }
};

}  // namespace

TEST_SUITE("acks") {
  TEST_CASE("filtered, multiplied and batched events are each acknowledged once, after the file is written") {
    fixture f;
    const auto outcome = f.run(R"j({"version": 1, "stages": {
      "src": {"type": "acked", "options": {"to": 5000}},
      "even": {"type": "jq", "subscribe_to": "src", "options": {"filter": "select(.n % 2 == 0)"}},
      "twice": {"type": "jq", "subscribe_to": "even", "concurrency": 2, "options": {"filter": "., {copy: .n}"}},
      "batches": {"type": "batch", "subscribe_to": "twice", "options": {"size": 7}},
      "out": {"type": "file", "subscribe_to": "batches", "options": {"path": ")j" + f.out("out.jsonl") + R"j("}}}})j");
    CHECK(outcome.ok);
    REQUIRE(f.book->all_settled());
    CHECK(f.book->created == 5000);
    CHECK(f.book->acked == 5000);  // the odd ones dropped by the filter too: handled on purpose
    CHECK(f.book->nacked == 0);
    CHECK(f.lines_of("out.jsonl") == (5000 + 6) / 7);  // 5000 outputs in arrays of 7
  }

  TEST_CASE("a broadcast acknowledges once both branches have written") {
    fixture f;
    const auto outcome = f.run(R"j({"version": 1, "stages": {
      "src": {"type": "acked", "options": {"to": 3000}, "dispatcher": {"type": "broadcast"}},
      "a": {"type": "file", "subscribe_to": "src", "options": {"path": ")j" + f.out("a.jsonl") + R"j("}},
      "b": {"type": "file", "subscribe_to": "src", "options": {"path": ")j" + f.out("b.jsonl") + R"j("}}}})j");
    CHECK(outcome.ok);
    REQUIRE(f.book->all_settled());
    CHECK(f.book->acked == 3000);
    CHECK(f.lines_of("a.jsonl") == 3000);
    CHECK(f.lines_of("b.jsonl") == 3000);
  }

  TEST_CASE("a dead-lettered input is acknowledged once the dead-letter stage has written it, retried or not") {
    fixture f;
    const auto outcome = f.run(R"j({"version": 1, "stages": {
      "src": {"type": "acked", "options": {"to": 2000}},
      "check": {"type": "jq", "subscribe_to": "src", "options": {"filter": "if .n % 100 == 0 then error(\"bad\") else . end"},
                "on_error": {"retry": {"max": 1, "backoff_ms": 1}, "dead_letter": "dead"}},
      "out": {"type": "file", "subscribe_to": "check", "options": {"path": ")j" + f.out("out.jsonl") + R"j("}},
      "dead": {"type": "file", "options": {"path": ")j" + f.out("dead.jsonl") + R"j("}}}})j");
    CHECK(outcome.ok);
    REQUIRE(f.book->all_settled());
    CHECK(f.book->acked == 2000);
    CHECK(f.book->nacked == 0);
    CHECK(f.lines_of("out.jsonl") == 1980);
    CHECK(f.lines_of("dead.jsonl") == 20);
  }

  TEST_CASE("a slow dead-letter stage holds the failing stage back, and gets every dead letter, in order") {
    // Every event fails; the dead letters go through a rate_limit (the dead-letter stage, a
    // transform) with a small max_demand, so most of the time letters wait and the stage's other
    // consumer's demand is held back.
    fixture f;
    const auto outcome = f.run(R"j({"version": 1, "stages": {
      "src": {"type": "acked", "options": {"to": 3000}},
      "check": {"type": "jq", "subscribe_to": "src", "options": {"filter": "if .n > 500 then error(\"bad\") else . end"},
                "on_error": {"dead_letter": "slow"}},
      "out": {"type": "file", "subscribe_to": "check", "options": {"path": ")j" + f.out("out.jsonl") + R"j("}},
      "slow": {"type": "rate_limit", "options": {"per_second": 20000}},
      "dead": {"type": "file", "subscribe_to": {"stage": "slow", "max_demand": 5}, "options": {"path": ")j" + f.out("dead.jsonl") + R"j("}}}})j");
    CHECK(outcome.ok);
    REQUIRE(f.book->all_settled());
    CHECK(f.book->acked == 3000);
    CHECK(f.book->nacked == 0);
    CHECK(f.lines_of("out.jsonl") == 500);
    std::ifstream in(f.dir / "dead.jsonl");
    std::size_t n = 500;
    bool ordered = true;
    for (std::string line; std::getline(in, line);) ordered = ordered && line.starts_with("{\"event\":{\"n\":" + std::to_string(++n) + "}");
    CHECK(ordered);
    CHECK(n == 3000);
  }

  TEST_CASE("dead letters bypass a broadcast: each branch gets the good events, the dead-letter stage the bad ones") {
    fixture f;
    const auto outcome = f.run(R"j({"version": 1, "stages": {
      "src": {"type": "acked", "options": {"to": 3000}, "dispatcher": "broadcast"},
      "check": {"type": "jq", "subscribe_to": "src", "options": {"filter": "if .n % 1000 == 7 then error(\"bad\") else . end"},
                "dispatcher": "broadcast", "on_error": {"dead_letter": "dead"}},
      "a": {"type": "file", "subscribe_to": "check", "options": {"path": ")j" + f.out("a.jsonl") + R"j("}},
      "b": {"type": "file", "subscribe_to": {"stage": "check", "max_demand": 1}, "options": {"path": ")j" + f.out("b.jsonl") + R"j("}},
      "dead": {"type": "file", "subscribe_to": {"stage": "src", "max_demand": 10}, "options": {"path": ")j" + f.out("dead.jsonl") + R"j("}}}})j");
    CHECK(outcome.ok);
    REQUIRE(f.book->all_settled());
    CHECK(f.book->acked == 3000);
    CHECK(f.book->nacked == 0);
    CHECK(f.lines_of("a.jsonl") == 2997);
    CHECK(f.lines_of("b.jsonl") == 2997);
    CHECK(f.lines_of("dead.jsonl") == 3000 + 3);  // its own producer's events and the 3 dead letters
  }

  TEST_CASE("a stage that fails leaves the events it lost negatively acknowledged, and every one settles") {
    fixture f;
    const auto outcome = f.run(R"j({"version": 1, "stages": {
      "src": {"type": "acked", "options": {"to": 100000}},
      "breaks": {"type": "breaks_at", "subscribe_to": "src", "options": {"at": 2500}},
      "out": {"type": "file", "subscribe_to": "breaks", "options": {"path": ")j" + f.out("out.jsonl") + R"j("}}}})j");
    CHECK_FALSE(outcome.ok);
    REQUIRE(f.book->all_settled());
    CHECK(f.book->nacked >= 1);  // at least the event it broke on
    CHECK(f.book->acked == f.lines_of("out.jsonl"));  // acknowledged exactly what was written
    CHECK(f.book->created < 100000);  // bounded by demand: the source was not drained into memory
  }

  TEST_CASE("a jq error skipped by on_error is acknowledged, one that fails the stage is not") {
    fixture f;
    const auto outcome = f.run(R"j({"version": 1, "stages": {
      "src": {"type": "acked", "options": {"to": 100}},
      "picky": {"type": "jq", "subscribe_to": "src", "options": {"filter": "if .n == 50 then error(\"no\") else . end", "on_error": "skip"}},
      "out": {"type": "null", "subscribe_to": "picky"}}})j");
    CHECK(outcome.ok);
    REQUIRE(f.book->all_settled());
    CHECK(f.book->acked == 100);
  }
}
