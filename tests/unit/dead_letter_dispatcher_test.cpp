// The dispatcher of a stage with a dead-letter stage (lib/pipeline/dead_letter_dispatcher.hpp),
// driven directly: dead letters go to the dead-letter subscription alone, wait there in order
// until it asks, hold infos behind them, and past max_waiting hold the other consumers' demand
// back from the stage; and make_dead_letter's event.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <sluice/pipeline/dead_letter.hpp>
#include <sluice/pipeline/event.hpp>

#include "pipeline/dead_letter_dispatcher.hpp"

using namespace sluice;
using namespace sluice::pipeline;
using sluice::pipeline::internal::dead_letter_dispatcher;

namespace {

/// Keeps what is sent, as the texts of the events, by consumer.
class recorder final : public dispatch_target<event> {
 public:
  void send(const consumer_ref& to, std::vector<event>&& events) override {
    for (event& e : events) sent[to.id].push_back(e.json());
  }
  void release_info(message&& m) override { infos.push_back(std::move(m)); }
  std::map<std::uint64_t, std::vector<std::string>> sent;
  std::vector<message> infos;
};

event text(const std::string& t) { return event::from_text_unchecked(t); }

event letter(const std::string& t, const origin_ref& marker) {
  event e = text(t);
  e.set_origin(marker);
  return e;
}

const consumer_ref normal{pid{1, 1}, 1};
const consumer_ref dead{pid{2, 1}, 2};

subscription_options letters_options() {
  subscription_options o;
  o.custom[internal::dead_letters_option] = true;
  return o;
}

}  // namespace

TEST_SUITE("dead_letter_dispatcher") {

TEST_CASE("dead letters go to the dead-letter subscription alone, in order, when it asks; the rest as usual") {
  const origin_ref marker = make_origin("parse", "dead_letter");
  dead_letter_dispatcher d(nullptr, marker);
  recorder out;
  CHECK_FALSE(d.subscribe({}, normal).refused);
  CHECK_FALSE(d.subscribe(letters_options(), dead).refused);
  CHECK(d.ask(10, normal, out) == 10);
  std::vector<event> batch;
  batch.push_back(text("1"));
  batch.push_back(letter("\"a\"", marker));
  batch.push_back(text("2"));
  batch.push_back(letter("\"b\"", marker));
  d.dispatch(batch, out);
  CHECK(batch.empty());
  CHECK(out.sent[normal.id] == std::vector<std::string>{"1", "2"});
  CHECK(out.sent[dead.id].empty());
  CHECK(d.held() == 2);
  CHECK(d.outstanding() == 8);  // the letters' demand is not the buffer's business

  SUBCASE("an info waits behind the letters, and goes once they have") {
    CHECK_FALSE(d.info(message::make(42), out));
    CHECK(d.ask(1, dead, out) == 1);  // demand from the dead-letter stage is demand for input too
    CHECK(out.sent[dead.id] == std::vector<std::string>{"\"a\""});
    CHECK(out.infos.empty());
    CHECK(d.ask(5, dead, out) == 5);
    CHECK(out.sent[dead.id] == std::vector<std::string>{"\"a\"", "\"b\""});
    REQUIRE(out.infos.size() == 1);
    CHECK(out.infos[0].get_if<int>() != nullptr);
    CHECK(d.held() == 0);
    CHECK(d.info(message::make(7), out));  // nothing waits: at once
  }
}

TEST_CASE("past max_waiting letters the other consumers' demand is held back, and handed back once they go") {
  const origin_ref marker = make_origin("parse", "dead_letter");
  dead_letter_dispatcher d(nullptr, marker);
  recorder out;
  (void)d.subscribe({}, normal);
  (void)d.subscribe(letters_options(), dead);
  std::vector<event> batch;
  for (std::size_t i = 0; i < dead_letter_dispatcher::max_waiting; ++i) batch.push_back(letter(std::to_string(i), marker));
  d.dispatch(batch, out);
  CHECK(d.held() == dead_letter_dispatcher::max_waiting);
  CHECK(d.ask(7, normal, out) == 0);  // held back
  CHECK(d.take_upstream() == 0);
  CHECK(d.ask(3, dead, out) == 3);
  CHECK(out.sent[dead.id] == std::vector<std::string>{"0", "1", "2"});
  CHECK(d.take_upstream() == 7);  // below max_waiting again
  CHECK(d.take_upstream() == 0);  // once
  CHECK(d.ask(2, normal, out) == 2);
}

TEST_CASE("a dead letter holds the input, what failed, and the input's acknowledgement") {
  struct ack final : acknowledgement {
    explicit ack(ack_outcome* o) : outcome(o) {}
    void settle(ack_outcome o) noexcept override { *outcome = o; }
    ack_outcome* outcome;
  };
  ack_outcome outcome = ack_outcome::nacked;
  bool settled = false;
  {
    ack a(&outcome);
    event input = text(R"({"x":"s"})");
    input.set_position(7);
    input.set_ack(ack_ref(&a));
    event l = make_dead_letter(std::move(input), "parse", "bad \"thing\"", 3, make_origin("parse", "dead_letter"));
    const nlohmann::json j = nlohmann::json::parse(l.json());
    CHECK(j["event"] == nlohmann::json{{"x", "s"}});
    CHECK(j["error"] == "bad \"thing\"");
    CHECK(j["stage"] == "parse");
    CHECK(j["attempts"] == 3);
    CHECK(j["time"].get<std::string>().size() == 24);  // 2026-12-07T11:22:26.754Z
    CHECK(l.position() == 7);
    REQUIRE(l.origin() != nullptr);
    CHECK(l.origin()->path == "dead_letter");
    outcome = ack_outcome::nacked;
    l.ack().done();  // the dead-letter stage handled it
    settled = outcome == ack_outcome::acked;
  }
  CHECK(settled);
}

}  // TEST_SUITE("dead_letter_dispatcher")
