// Stages: the basic producer -> consumer flow.
#include <doctest/doctest.h>

#include <atomic>
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include <sluice/sluice.hpp>

#include "../support/probe.hpp"
#include "../support/stages.hpp"

using namespace sluice;
using sluice::testing::patience;
using sluice::testing::demand_bounds;
using sluice::testing::probe;

namespace {

class counter final : public producer<std::int64_t> {
 public:
  explicit counter(std::int64_t limit) : limit_(limit) {}
  void handle_demand(std::size_t demand, stage_context<std::int64_t>& ctx) override {
    for (std::size_t i = 0; i < demand && next_ < limit_; ++i) ctx.emit(next_++);
    if (next_ == limit_) ctx.stop_after_dispatch();
  }

 private:
  std::int64_t next_ = 0;
  std::int64_t limit_;
};

class summer final : public consumer<std::int64_t> {
 public:
  explicit summer(pid report) : report_(report) {}
  void handle_events(std::span<std::int64_t> events, subscription_ref, stage_context<no_events>&) override {
    for (auto v : events) sum_ += v;
    count_ += events.size();
  }
  void terminate(const exit_reason& why, stage_context<no_events>& ctx) override {
    ctx.process().send(report_, std::vector<std::int64_t>{sum_, static_cast<std::int64_t>(count_)});
    (void)why;
  }

 private:
  pid report_;
  std::int64_t sum_ = 0;
  std::size_t count_ = 0;
};

}  // namespace

TEST_SUITE("stage_basic") {
  TEST_CASE("a reply through ctx.reply reaches a consumer calling its producer after the events the call emitted") {
    struct emit_three {};
    struct call_it {
      pid producer;
    };
    struct got_events {
      std::vector<int> events;
    };
    struct got_reply {
      int value;
    };
    /// handle_call emits 7, 8, 9 and answers 42 through ctx.reply.
    class answering final : public producer<int> {
     public:
      void handle_demand(std::size_t, stage_context<int>&) override {}
      void handle_call(message& m, stage_context<int>& ctx) override {
        if (auto* r = m.get_if<request<emit_three>>()) {
          for (int v : {7, 8, 9}) ctx.emit(v);
          ctx.reply(r->from, 42);
        }
      }
    };
    /// Calls its producer when told; reports its events and the reply, in the order they come.
    class calling final : public consumer<int> {
     public:
      explicit calling(pid report) : report_(report) {}
      void handle_events(std::span<int> events, subscription_ref, stage_context<no_events>& ctx) override {
        ctx.process().send(report_, got_events{std::vector<int>(events.begin(), events.end())});
      }
      void handle_info(message& m, stage_context<no_events>& ctx) override {
        if (auto* c = m.get_if<call_it>()) {
          ctx.process().call(c->producer, emit_three{}, patience);
        } else if (auto* r = m.get_if<call_reply>()) {
          if (r->result.ok()) {
            if (auto* v = r->result.value().get_if<int>()) ctx.process().send(report_, got_reply{*v});
          }
        }
      }

     private:
      pid report_;
    };
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = start(rt, std::make_unique<answering>());
    const pid c = start(rt, std::make_unique<calling>(out.self()));
    REQUIRE(subscribe(rt, c, p));
    rt.send(c, call_it{p});
    message first = out.next();
    REQUIRE_MESSAGE(first.is<got_events>(), "the reply overtook the events");
    CHECK(first.get<got_events>().events == std::vector<int>{7, 8, 9});
    auto reply = out.receive<got_reply>();
    REQUIRE(reply);
    CHECK(reply->value == 42);
  }

  TEST_CASE("a finite producer's events all reach a consumer, which then exits normally") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = start(rt, std::make_unique<counter>(100000));
    const pid c = start(rt, std::make_unique<summer>(out.self()));
    out.watch(c);
    REQUIRE(subscribe(rt, c, p));
    auto totals = out.receive<std::vector<std::int64_t>>();
    REQUIRE(totals);
    CHECK((*totals)[0] == 100000LL * 99999 / 2);
    CHECK((*totals)[1] == 100000);
    CHECK(out.exit_of(c) == exit_reason::normal());
  }
}

namespace {

/// A payload that counts its copies (there must be none on one-to-one edges).
struct counted {
  static inline std::atomic<int> copies{0};
  int value = 0;
  explicit counted(int v) : value(v) {}
  counted(const counted& o) : value(o.value) { copies.fetch_add(1); }
  counted& operator=(const counted& o) {
    value = o.value;
    copies.fetch_add(1);
    return *this;
  }
  counted(counted&&) noexcept = default;
  counted& operator=(counted&&) noexcept = default;
};

template <class T, class Make>
class making final : public producer<T> {
 public:
  explicit making(int limit) : limit_(limit) {}
  void handle_demand(std::size_t demand, stage_context<T>& ctx) override {
    for (std::size_t i = 0; i < demand && next_ < limit_; ++i) ctx.emit(Make{}(next_++));
    if (next_ == limit_) ctx.stop_after_dispatch();
  }

 private:
  int limit_;
  int next_ = 0;
};

template <class T>
class passing final : public producer_consumer<T, T> {
 public:
  void handle_events(std::span<T> events, subscription_ref, stage_context<T>& ctx) override {
    for (auto& e : events) ctx.emit(std::move(e));
  }
};

/// Passes its input batch on with emit_in_place.
template <class T>
class passing_in_place final : public producer_consumer<T, T> {
 public:
  void handle_events(std::span<T> events, subscription_ref, stage_context<T>& ctx) override {
    ctx.emit_in_place(events);
  }
};

template <class T, class Value>
class collecting final : public consumer<T> {
 public:
  explicit collecting(pid report) : report_(report) {}
  void handle_events(std::span<T> events, subscription_ref, stage_context<no_events>&) override {
    for (auto& e : events) seen_.push_back(Value{}(e));
  }
  void terminate(const exit_reason&, stage_context<no_events>& ctx) override { ctx.process().send(report_, seen_); }

 private:
  pid report_;
  std::vector<int> seen_;
};

struct make_unique_int {
  std::unique_ptr<int> operator()(int v) const { return std::make_unique<int>(v); }
};
struct read_unique_int {
  int operator()(const std::unique_ptr<int>& p) const { return *p; }
};
struct make_counted {
  counted operator()(int v) const { return counted(v); }
};
struct read_counted {
  int operator()(const counted& c) const { return c.value; }
};

template <class T, class Make, class Read, template <class> class Middle = passing>
std::vector<int> run_chain(int n) {
  runtime rt({.threads = 2});
  probe out(rt);
  const pid p = start(rt, std::make_unique<making<T, Make>>(n));
  const pid pc = start(rt, std::make_unique<Middle<T>>());
  const pid c = start(rt, std::make_unique<collecting<T, Read>>(out.self()));
  subscription_options small;
  small.max_demand = 7;  // odd sizes: batches get cut and partly buffered
  small.min_demand = 3;
  REQUIRE(subscribe(rt, pc, p, small));
  REQUIRE(subscribe(rt, c, pc, small));
  auto seen = out.receive<std::vector<int>>();
  REQUIRE(seen);
  return *seen;
}

std::vector<int> first_n(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

}  // namespace

TEST_SUITE("stage_basic") {
  TEST_CASE("move-only events flow through producer, producer_consumer and consumer") {
    CHECK(run_chain<std::unique_ptr<int>, make_unique_int, read_unique_int>(1000) == first_n(1000));
  }

  TEST_CASE("events are moved, never copied, on one-to-one subscriptions") {
    counted::copies = 0;
    CHECK(run_chain<counted, make_counted, read_counted>(1000) == first_n(1000));
    CHECK(counted::copies.load() == 0);
  }

  TEST_CASE("emit_in_place moves move-only events and copies none, also from batches cut in chunks") {
    CHECK(run_chain<std::unique_ptr<int>, make_unique_int, read_unique_int, passing_in_place>(1000) == first_n(1000));
    counted::copies = 0;
    CHECK(run_chain<counted, make_counted, read_counted, passing_in_place>(1000) == first_n(1000));
    CHECK(counted::copies.load() == 0);
  }
}

namespace {

std::uintptr_t address_of(const int* p) { return reinterpret_cast<std::uintptr_t>(p); }

constexpr int in_place_events = 1000;
constexpr int in_place_batch = 10;  // the producer's batches: its demand, max_demand 10

/// Where a batch the producer emitted is stored, by its first event.
struct stored_batch {
  int first;
  std::uintptr_t data;
};

/// What the consumer received in one handle_events.
struct received_batch {
  std::vector<int> events;
  std::uintptr_t data;
};

/// Emits 0 .. in_place_events-1, one vector per handle_demand (of exactly the demand's capacity),
/// and reports where each vector is stored.
class batch_producer final : public producer<int> {
 public:
  explicit batch_producer(pid report) : report_(report) {}
  void handle_demand(std::size_t demand, stage_context<int>& ctx) override {
    std::vector<int> batch;
    batch.reserve(demand);
    for (std::size_t i = 0; i < demand && next_ < in_place_events; ++i) batch.push_back(next_++);
    if (!batch.empty()) ctx.process().send(report_, stored_batch{batch.front(), address_of(batch.data())});
    ctx.emit(std::move(batch));
    if (next_ == in_place_events) ctx.stop_after_dispatch();
  }

 private:
  pid report_;
  int next_ = 0;
};

/// How doubling_filter works.
struct filter_setup {
  int keep_multiples_of = 4;  ///< of the doubled events
  bool marker = false;        ///< emit -1 before each batch's results (so it cannot be handed on)
  bool manual = false;        ///< manual demand upstream: asks for what it got
  bool hand_on_twice = false; ///< call emit_in_place again on what it handed on
};

/// x -> 2x, keeping the multiples of `keep_multiples_of`, in its input batch.
class doubling_filter final : public producer_consumer<int, int> {
 public:
  explicit doubling_filter(filter_setup setup) : setup_(setup) {}
  demand_kind handle_subscribe(peer_kind peer, const subscription_options& opts, subscription_ref from,
                               stage_context<int>& ctx) override {
    if (peer != peer_kind::producer || !setup_.manual) return demand_kind::automatic;
    ctx.ask(from, opts.max_demand);
    return demand_kind::manual;
  }
  void handle_events(std::span<int> events, subscription_ref from, stage_context<int>& ctx) override {
    if (setup_.manual) ctx.ask(from, events.size());
    if (setup_.marker) ctx.emit(-1);
    for (int& x : events) x *= 2;
    const auto end =
        std::remove_if(events.begin(), events.end(), [&](int y) { return y % setup_.keep_multiples_of != 0; });
    const std::span<int> kept = events.first(static_cast<std::size_t>(end - events.begin()));
    ctx.emit_in_place(kept);
    if (setup_.hand_on_twice) ctx.emit_in_place(kept);
  }

 private:
  filter_setup setup_;
};

class batch_recorder final : public consumer<int> {
 public:
  explicit batch_recorder(pid report) : report_(report) {}
  void handle_events(std::span<int> events, subscription_ref, stage_context<no_events>& ctx) override {
    ctx.process().send(report_, received_batch{std::vector<int>(events.begin(), events.end()), address_of(events.data())});
  }

 private:
  pid report_;
};

struct in_place_run {
  std::map<int, std::uintptr_t> produced;  // first event -> storage
  std::vector<received_batch> received;
  exit_reason filter_exit;

  [[nodiscard]] std::vector<int> events() const {
    std::vector<int> all;
    for (const received_batch& b : received) all.insert(all.end(), b.events.begin(), b.events.end());
    return all;
  }
  /// Where the producer's batch holding source event `x` was stored.
  [[nodiscard]] std::uintptr_t storage_of(int x) const { return produced.at(x / in_place_batch * in_place_batch); }
};

/// batch_producer -> doubling_filter(setup) -> batch_recorder, both subscriptions with max_demand
/// 10 and `min` (0: every batch is handled whole; GenStage cuts it into max - min chunks).
in_place_run run_doubling_filter(filter_setup setup, std::size_t min = 0) {
  runtime rt({.threads = 2});
  probe out(rt);
  const pid p = start(rt, std::make_unique<batch_producer>(out.self()));
  const pid pc = start(rt, std::make_unique<doubling_filter>(setup));
  const pid c = start(rt, std::make_unique<batch_recorder>(out.self()));
  out.watch(pc);
  out.watch(c);
  REQUIRE(subscribe(rt, c, pc, demand_bounds(in_place_batch, min)));
  REQUIRE(subscribe(rt, pc, p, demand_bounds(in_place_batch, min)));
  in_place_run run;
  // The filter exits once the producer has finished (cancel permanent), or when it fails; the
  // consumer after it, once it has handled everything the filter sent.
  for (int downs = 0; downs < 2;) {
    message m = out.next();
    REQUIRE(!m.empty());
    if (auto* s = m.get_if<stored_batch>()) {
      run.produced.emplace(s->first, s->data);
    } else if (auto* r = m.get_if<received_batch>()) {
      run.received.push_back(std::move(*r));
    } else {
      auto* d = m.get_if<down>();
      REQUIRE(d != nullptr);
      if (d->who == pc) run.filter_exit = d->reason;
      ++downs;
    }
  }
  return run;
}

std::vector<int> doubled_multiples(int of, bool marker) {
  std::vector<int> v;
  for (int x = 0; x < in_place_events; ++x) {
    if (marker && x % in_place_batch == 0) v.push_back(-1);
    if (2 * x % of == 0) v.push_back(2 * x);
  }
  return v;
}

}  // namespace

TEST_SUITE("stage_basic") {
  TEST_CASE("emit_in_place hands a whole input batch on: the consumer gets the producer's storage") {
    filter_setup setup;
    SUBCASE("automatic demand") {}
    SUBCASE("manual demand") { setup.manual = true; }
    const in_place_run run = run_doubling_filter(setup);
    CHECK(run.filter_exit == exit_reason::normal());
    CHECK(run.events() == doubled_multiples(4, false));
    REQUIRE(run.received.size() == in_place_events / in_place_batch);
    for (const received_batch& b : run.received) {
      REQUIRE(!b.events.empty());
      CHECK(b.data == run.storage_of(b.events.front() / 2));  // the producer's vector: no copy, no allocation
    }
  }

  TEST_CASE("emit_in_place moves the events when it cannot hand the batch on") {
    SUBCASE("the batch is handled in chunks") {
      const in_place_run run = run_doubling_filter({}, 6);  // chunks of 4
      CHECK(run.events() == doubled_multiples(4, false));
    }
    SUBCASE("the callback emitted an event before") {
      const in_place_run run = run_doubling_filter({.marker = true});
      CHECK(run.events() == doubled_multiples(4, true));
    }
    SUBCASE("the events kept fill less than a quarter of the batch's storage") {
      const in_place_run run = run_doubling_filter({.keep_multiples_of = 16});  // 2 or 3 of 10
      CHECK(run.events() == doubled_multiples(16, false));
      for (const received_batch& b : run.received) {
        // A right-sized copy, made while the producer's vector was still alive.
        CHECK(b.data != run.storage_of(b.events.front() / 2));
      }
    }
  }

  TEST_CASE("handing on events already handed on stops the stage with an error") {
    const in_place_run run = run_doubling_filter({.hand_on_twice = true});
    CHECK(run.filter_exit.what() == exit_reason::kind::error);
    CHECK(run.filter_exit.to_string().find("already handed on") != std::string::npos);
  }
}
