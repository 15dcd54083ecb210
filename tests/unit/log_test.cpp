// The runtime's logger: levels, a sink of the embedder's, and what the stage engine logs (once per
// store that dropped events, never per event; on_discard may silence it, as GenStage's
// format_discarded/2 does).
#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include <sluice/sluice.hpp>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

/// The records a sink received.
struct captured {
  std::mutex mutex;  // guards lines
  std::vector<std::string> lines;

  log_sink sink() {
    return [this](const log_record& r) {
      std::lock_guard lock(mutex);
      lines.push_back(std::string(to_string(r.level)) + " [" + std::string(r.source) + "] " + std::string(r.message));
    };
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mutex);
    return lines;
  }
};

struct emit_n {
  int n;
};

/// Emits `n` events on request, whether or not anyone asked.
class pushed final : public producer<int> {
 public:
  void handle_demand(std::size_t, stage_context<int>&) override {}
  void handle_info(message& m, stage_context<int>& ctx) override {
    if (auto* e = m.get_if<emit_n>()) {
      for (int i = 0; i < e->n; ++i) ctx.emit(i);
    }
  }
};

}  // namespace

TEST_SUITE("log") {
  TEST_CASE("a logger passes on the records at or above its level, to the sink it was given") {
    captured out;
    logger log(log_level::warning, out.sink());
    log.info("not shown", "a");
    log.warning("shown", "b");
    log.error("also shown");
    log.set_level(log_level::off);
    log.error("not shown either");
    CHECK(out.snapshot() == std::vector<std::string>{"warning [b] shown", "error [] also shown"});
  }

  TEST_CASE("rfc3339: UTC with milliseconds, rounded down, before 1970 too") {
    const std::chrono::system_clock::time_point epoch{};
    CHECK(rfc3339(epoch + 1234ms) == "1970-01-01T00:00:01.234Z");
    CHECK(rfc3339(epoch - 1ms) == "1969-12-31T23:59:59.999Z");
    CHECK(rfc3339(epoch + std::chrono::seconds(1'796'643'805) + 7ms) == "2026-12-07T11:43:25.007Z");
  }

  TEST_CASE("a sink that throws takes nobody down") {
    logger log(log_level::debug, [](const log_record&) { throw std::runtime_error("sink broke"); });
    CHECK_NOTHROW(log.error("x"));
  }

  TEST_CASE("a full buffer's drop is logged once per store, naming the stage, and on_discard can silence it") {
    captured out;
    runtime rt({.threads = 2, .log_sink = out.sink()});
    stage_options<int> o;
    o.buffer_size = 5;
    o.name = "numbers";
    const pid loud = start(rt, std::make_unique<pushed>(), std::move(o));
    rt.send(loud, emit_n{8});  // 3 dropped, in one store
    rt.send(loud, emit_n{4});  // 4 more
    stage_options<int> q;
    q.buffer_size = 5;
    q.name = "quiet";
    q.on_discard = [](std::size_t) { return false; };
    const pid quiet = start(rt, std::make_unique<pushed>(), std::move(q));
    rt.send(quiet, emit_n{8});
    // Each producer handles its messages in order: a call answered behind them means they were.
    CHECK(estimate_buffered_count(rt, loud) == std::optional<std::size_t>(5));
    CHECK(estimate_buffered_count(rt, quiet) == std::optional<std::size_t>(5));
    CHECK(out.snapshot() ==
          std::vector<std::string>{"warning [numbers] discarded 3 events: the buffer is full (buffer_size 5, buffer_keep last)",
                                   "warning [numbers] discarded 4 events: the buffer is full (buffer_size 5, buffer_keep last)"});
  }
}
