// Supervisors: start and stop order, the three restart strategies, restart types, restart
// intensity, shutdown modes, failed starts, dynamic children, the parent link, isolation, requests
// deferred while children stop, and supervisors supervising supervisors.
//
// How the tests synchronise (no sleeps): a child's start function runs inside the supervisor and
// reports `started` from there, so start reports arrive in the order the supervisor started the
// children; a child's terminate reports `stopped` before the child exits, and the supervisor stops
// one child only after the previous one is gone, so stop reports arrive in stop order. Exit reasons
// come from a probe that monitors a process *before* the test triggers its exit (await_exit, called
// after a fast exit, could only answer `noproc`). A monitor in place before the exit is answered
// after the exiting child's link signal has reached the supervisor, so a `which_children` issued
// after seeing the `down` is answered after the supervisor handled that exit; and since a restart
// reports `started` before the supervisor replies, "nothing pending after the reply" proves that
// nothing was restarted.
#include <doctest/doctest.h>

#include <atomic>
#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <sluice/process.hpp>

#include "../support/probe.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using sluice::testing::patience;
using sluice::testing::probe;

namespace doctest {
template <>
struct StringMaker<sluice::pid> {
  static String convert(const sluice::pid& p) { return p.to_string().c_str(); }
};
template <>
struct StringMaker<sluice::exit_reason> {
  static String convert(const sluice::exit_reason& r) { return r.to_string().c_str(); }
};
}  // namespace doctest

namespace {

// ---- what children report ------------------------------------------------------------------

/// From a child's start function, inside the supervisor.
struct started {
  std::string id;
  pid who;
};
/// From a child's terminate.
struct stopped {
  std::string id;
  exit_reason reason;
};
/// From a child that traps exits, when an exit signal reaches it.
struct signalled {
  std::string id;
  exit_reason reason;
};

// ---- what a test tells a child -------------------------------------------------------------

struct crash {};  ///< the handler throws: the child exits with {error, crash <id>}
struct quit {     ///< the child exits with this reason
  exit_reason reason;
};
struct release {};  ///< a lingering child now exits with `shutdown`

/// What a child does with the supervisor's `shutdown` exit signal.
enum class on_shutdown {
  obey,    ///< does not trap exits: the signal ends it, terminate runs with `shutdown`
  ignore,  ///< traps exits and carries on: only `kill` ends it
  linger,  ///< traps exits, and exits with `shutdown` only when told to (`release`)
};

class worker final : public behaviour {
 public:
  worker(std::string id, pid report, on_shutdown mode) : id_(std::move(id)), report_(report), mode_(mode) {}

  void init(context& self) override { self.trap_exit(mode_ != on_shutdown::obey); }

  void handle(context& self, message& m) override {
    if (m.is<crash>()) throw std::runtime_error("crash " + id_);
    if (auto* q = m.get_if<quit>()) return self.exit(q->reason);
    if (auto* sig = m.get_if<exit_signal>()) {
      self.send(report_, signalled{id_, sig->reason});
      return;
    }
    if (m.is<release>() && mode_ == on_shutdown::linger) self.exit(exit_reason::shutdown());
  }

  void terminate(context& self, const exit_reason& reason) override { self.send(report_, stopped{id_, reason}); }

 private:
  std::string id_;
  pid report_;
  on_shutdown mode_;
};

/// A child running a `worker`, reporting to `report`.
child_spec worker_spec(const std::string& id, pid report, restart_type restart = restart_type::permanent,
                       on_shutdown mode = on_shutdown::obey) {
  child_spec s;
  s.id = id;
  s.restart = restart;
  s.start = [id, report, mode](context& sup) {
    const pid p = sup.spawn_link(std::make_unique<worker>(id, report, mode));
    sup.send(report, started{id, p});
    return p;
  };
  return s;
}

/// A child whose start throws "no <id> today".
child_spec failing_spec(const std::string& id) {
  child_spec s;
  s.id = id;
  s.start = [id](context&) -> pid { throw std::runtime_error("no " + id + " today"); };
  return s;
}

// ---- test-side helpers -----------------------------------------------------------------------

/// The `started` / `stopped` / `signalled` reports, as text: "start a", "stop b shutdown",
/// "signal c shutdown"; remembers each child's latest pid.
class event_log {
 public:
  explicit event_log(runtime& rt) : box_(rt) {}

  [[nodiscard]] pid self() const { return box_.self(); }

  /// The next `n` reports, joined by "; " ("(nothing)" for one that did not come in time).
  std::string next(int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
      if (!out.empty()) out += "; ";
      message m = box_.next();
      if (auto* s = m.get_if<started>()) {
        pids_[s->id] = s->who;
        out += "start " + s->id;
      } else if (auto* t = m.get_if<stopped>()) {
        out += "stop " + t->id + " " + t->reason.to_string();
      } else if (auto* g = m.get_if<signalled>()) {
        out += "signal " + g->id + " " + g->reason.to_string();
      } else {
        out += m.empty() ? "(nothing)" : "(unexpected message)";
      }
    }
    return out;
  }

  /// The pid last reported started for `id` (invalid if none).
  pid pid_of(const std::string& id) const {
    auto it = pids_.find(id);
    return it == pids_.end() ? pid{} : it->second;
  }

  /// Reports received and not yet taken.
  std::size_t pending() { return box_.pending(); }

 private:
  probe box_;
  std::map<std::string, pid> pids_;
};

/// Learns exit reasons, whatever order the exits come in: a probe monitors each process on request.
class exit_log {
 public:
  explicit exit_log(runtime& rt) : box_(rt) {}

  /// Monitors `p`; returns once the monitor is in place, so that an exit triggered afterwards is
  /// reported with its real reason.
  void watch(pid p) { box_.watch(p); }

  /// The exit reason of a watched process, waiting for its exit.
  exit_reason reason_of(pid p) {
    while (!reasons_.contains(p)) {
      auto d = box_.receive<down>();
      REQUIRE_MESSAGE(d, p.to_string() << " did not exit in time");
      reasons_[d->who] = d->reason;
    }
    return reasons_.at(p);
  }

  /// True if no watched process exits within `d` (a timeout under test).
  bool quiet_for(std::chrono::steady_clock::duration d) { return box_.next(d).empty(); }

 private:
  probe box_;
  std::map<pid, exit_reason> reasons_;
};

std::vector<child_info> children_of(runtime& rt, pid sup) {
  auto r = which_children(rt, sup, patience);
  REQUIRE_MESSAGE(r.ok(), "which_children failed: " << to_string(r.error()));
  return std::move(r).value();
}

/// The ids of `children`, space-separated, in the order given.
std::string ids_of(const std::vector<child_info>& children) {
  std::string out;
  for (auto& c : children) out += (out.empty() ? "" : " ") + c.id;
  return out;
}

/// The "; "-separated items of `joined`, sorted: for reports whose relative order is not defined.
std::string sorted(const std::string& joined) {
  std::vector<std::string> items;
  for (std::size_t at = 0;;) {
    const std::size_t end = joined.find("; ", at);
    items.push_back(joined.substr(at, end - at));
    if (end == std::string::npos) break;
    at = end + 2;
  }
  std::sort(items.begin(), items.end());
  std::string out;
  for (auto& i : items) out += (out.empty() ? "" : "; ") + i;
  return out;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---- a parent process, for supervisors started from inside a process -------------------------

struct launch {
  supervisor_flags flags;
  std::vector<child_spec> children;
};
struct launched {
  pid sup;
};

/// Starts a supervisor linked to itself when told to (`launch`), reports it (`launched`), and
/// forwards the exit signals it traps; throws on `crash`.
class parent final : public behaviour {
 public:
  explicit parent(pid report) : report_(report) {}
  void init(context& self) override { self.trap_exit(true); }
  void handle(context& self, message& m) override {
    if (auto* l = m.get_if<launch>()) {
      self.send(report_, launched{start_supervisor(self, l->flags, std::move(l->children))});
    } else if (auto* sig = m.get_if<exit_signal>()) {
      self.send(report_, *sig);
    } else if (m.is<crash>()) {
      throw std::runtime_error("crash parent");
    }
  }

 private:
  pid report_;
};

// ---- an unrelated process -----------------------------------------------------------------------

struct ping {};

pid spawn_echo(runtime& rt) {
  return rt.spawn([](context&, message& m) {
    if (auto* r = m.get_if<request<ping>>()) r->from.reply(std::string("pong"));
  });
}

}  // namespace

TEST_SUITE("supervisor") {
  TEST_CASE("children start in spec order and stop in reverse order when the supervisor is stopped") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    const pid sup = start_supervisor(rt, {}, {worker_spec("a", events.self()), worker_spec("b", events.self()),
                                              worker_spec("c", events.self())});
    CHECK(events.next(3) == "start a; start b; start c");
    const auto kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "a b c");
    for (auto& k : kids) CHECK(k.child == events.pid_of(k.id));

    exits.watch(sup);
    rt.exit(sup, exit_reason::shutdown("test over"));
    CHECK(events.next(3) == "stop c shutdown; stop b shutdown; stop a shutdown");
    CHECK(exits.reason_of(sup) == exit_reason::shutdown("test over"));
  }

  TEST_CASE("one_for_one restarts only the child that crashed; its siblings keep their pids") {
    runtime rt({.threads = 2});
    event_log events(rt);
    const pid sup = start_supervisor(rt, {.strategy = strategy::one_for_one},
                                     {worker_spec("a", events.self()), worker_spec("b", events.self()),
                                      worker_spec("c", events.self())});
    REQUIRE(events.next(3) == "start a; start b; start c");
    const pid a = events.pid_of("a"), b = events.pid_of("b"), c = events.pid_of("c");

    rt.send(b, crash{});
    CHECK(events.next(2) == "stop b {error, crash b}; start b");
    CHECK(events.pid_of("b") != b);
    const auto kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "a b c");
    CHECK(kids[0].child == a);
    CHECK(kids[1].child == events.pid_of("b"));
    CHECK(kids[2].child == c);
    CHECK(events.pending() == 0);
  }

  TEST_CASE("one_for_all stops the other children in reverse order, then starts all of them again in order") {
    runtime rt({.threads = 2});
    event_log events(rt);
    const pid sup = start_supervisor(rt, {.strategy = strategy::one_for_all},
                                     {worker_spec("a", events.self()), worker_spec("b", events.self()),
                                      worker_spec("c", events.self())});
    REQUIRE(events.next(3) == "start a; start b; start c");
    const pid a = events.pid_of("a"), b = events.pid_of("b"), c = events.pid_of("c");

    rt.send(b, crash{});
    CHECK(events.next(6) ==
          "stop b {error, crash b}; stop c shutdown; stop a shutdown; start a; start b; start c");
    CHECK(events.pid_of("a") != a);
    CHECK(events.pid_of("b") != b);
    CHECK(events.pid_of("c") != c);
    const auto kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "a b c");
    for (auto& k : kids) CHECK(k.child == events.pid_of(k.id));
    CHECK(events.pending() == 0);
  }

  TEST_CASE("rest_for_one restarts the crashed child and those after it; the earlier ones keep their pids") {
    runtime rt({.threads = 2});
    event_log events(rt);
    const pid sup = start_supervisor(rt, {.strategy = strategy::rest_for_one, .max_restarts = 10},
                                     {worker_spec("a", events.self()), worker_spec("b", events.self()),
                                      worker_spec("c", events.self()), worker_spec("d", events.self())});
    REQUIRE(events.next(4) == "start a; start b; start c; start d");
    const pid a = events.pid_of("a"), b = events.pid_of("b"), c = events.pid_of("c"), d = events.pid_of("d");

    rt.send(b, crash{});
    CHECK(events.next(6) ==
          "stop b {error, crash b}; stop d shutdown; stop c shutdown; start b; start c; start d");
    CHECK(events.pid_of("b") != b);
    CHECK(events.pid_of("c") != c);
    CHECK(events.pid_of("d") != d);
    auto kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "a b c d");
    CHECK(kids[0].child == a);
    for (auto& k : kids) CHECK(k.child == events.pid_of(k.id));
    CHECK(events.pending() == 0);

    // The last child has no successors: only it restarts.
    const pid b2 = events.pid_of("b"), c2 = events.pid_of("c");
    rt.send(events.pid_of("d"), crash{});
    CHECK(events.next(2) == "stop d {error, crash d}; start d");
    kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "a b c d");
    CHECK(kids[0].child == a);
    CHECK(kids[1].child == b2);
    CHECK(kids[2].child == c2);
    CHECK(kids[3].child == events.pid_of("d"));
    CHECK(events.pending() == 0);
  }

  TEST_CASE("a permanent child is restarted even after a normal exit") {
    runtime rt({.threads = 2});
    event_log events(rt);
    const pid sup = start_supervisor(rt, {}, {worker_spec("p", events.self(), restart_type::permanent)});
    REQUIRE(events.next(1) == "start p");
    const pid p = events.pid_of("p");

    rt.send(p, quit{exit_reason::normal()});
    CHECK(events.next(2) == "stop p normal; start p");
    CHECK(events.pid_of("p") != p);
    const auto kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "p");
    CHECK(kids[0].child == events.pid_of("p"));
  }

  TEST_CASE("a transient child is restarted after an abnormal exit") {
    runtime rt({.threads = 2});
    event_log events(rt);
    const pid sup = start_supervisor(rt, {}, {worker_spec("t", events.self(), restart_type::transient)});
    REQUIRE(events.next(1) == "start t");
    const pid t = events.pid_of("t");

    rt.send(t, crash{});
    CHECK(events.next(2) == "stop t {error, crash t}; start t");
    CHECK(events.pid_of("t") != t);
    const auto kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "t");
    CHECK(kids[0].child == events.pid_of("t"));
  }

  TEST_CASE("a transient child is not restarted after exiting with normal, shutdown or {shutdown, detail}") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    const pid sup = start_supervisor(rt, {},
                                     {worker_spec("n", events.self(), restart_type::transient),
                                      worker_spec("s", events.self(), restart_type::transient),
                                      worker_spec("d", events.self(), restart_type::transient)});
    REQUIRE(events.next(3) == "start n; start s; start d");

    const std::pair<std::string, exit_reason> exits_by_id[] = {
        {"n", exit_reason::normal()}, {"s", exit_reason::shutdown()}, {"d", exit_reason::shutdown("done")}};
    for (const auto& entry : exits_by_id) {
      const std::string& id = entry.first;
      const exit_reason& reason = entry.second;
      CAPTURE(id);
      const pid child = events.pid_of(id);
      exits.watch(child);
      rt.send(child, quit{reason});
      CHECK(events.next(1) == "stop " + id + " " + reason.to_string());
      CHECK(exits.reason_of(child) == reason);
    }
    const auto kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "n s d");  // still known, not running
    for (auto& k : kids) CHECK_FALSE(k.child.valid());
    CHECK(events.pending() == 0);
  }

  TEST_CASE("a temporary child is never restarted and disappears from which_children") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    const pid sup = start_supervisor(rt, {},
                                     {worker_spec("crashes", events.self(), restart_type::temporary),
                                      worker_spec("keeper", events.self()),
                                      worker_spec("quits", events.self(), restart_type::temporary)});
    REQUIRE(events.next(3) == "start crashes; start keeper; start quits");
    const pid crashes = events.pid_of("crashes"), keeper = events.pid_of("keeper"), quits = events.pid_of("quits");

    exits.watch(crashes);
    exits.watch(quits);
    rt.send(crashes, crash{});
    CHECK(events.next(1) == "stop crashes {error, crash crashes}");
    rt.send(quits, quit{exit_reason::normal()});
    CHECK(events.next(1) == "stop quits normal");
    CHECK(exits.reason_of(crashes).what() == exit_reason::kind::error);
    CHECK(exits.reason_of(quits) == exit_reason::normal());

    const auto kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "keeper");
    CHECK(kids[0].child == keeper);
    CHECK(events.pending() == 0);
  }

  TEST_CASE("more than max_restarts restarts within max_seconds stop the children and the supervisor with shutdown") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    const pid sup = start_supervisor(rt, {.max_restarts = 3, .max_seconds = 60s},
                                     {worker_spec("a", events.self()), worker_spec("b", events.self())});
    REQUIRE(events.next(2) == "start a; start b");

    for (int i = 1; i <= 3; ++i) {
      CAPTURE(i);
      const pid a = events.pid_of("a");
      rt.send(a, crash{});
      REQUIRE(events.next(2) == "stop a {error, crash a}; start a");
      CHECK(events.pid_of("a") != a);
    }
    exits.watch(sup);
    rt.send(events.pid_of("a"), crash{});  // the fourth within the minute
    CHECK(events.next(2) == "stop a {error, crash a}; stop b shutdown");
    CHECK(exits.reason_of(sup) == exit_reason::shutdown());
    CHECK(events.pending() == 0);  // no fourth restart
  }

  TEST_CASE("a child that fails to restart counts against the restart intensity") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    auto starts = std::make_shared<std::atomic<int>>(0);
    child_spec flaky = worker_spec("flaky", events.self());
    flaky.start = [starts, first = std::move(flaky.start)](context& sup) -> pid {
      if (starts->fetch_add(1) > 0) throw std::runtime_error("flaky cannot start again");
      return first(sup);
    };
    const pid sup = start_supervisor(rt, {.max_restarts = 2, .max_seconds = 60s},
                                     {worker_spec("a", events.self()), std::move(flaky)});
    REQUIRE(events.next(2) == "start a; start flaky");

    exits.watch(sup);
    rt.send(events.pid_of("flaky"), crash{});
    CHECK(events.next(2) == "stop flaky {error, crash flaky}; stop a shutdown");
    CHECK(exits.reason_of(sup) == exit_reason::shutdown());
    CHECK(starts->load() == 1 + 2);  // the first start, then max_restarts failed restarts
  }

  TEST_CASE("max_seconds 0 counts the restarts made within the same second, so a restart loop gives up") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    auto starts = std::make_shared<std::atomic<int>>(0);
    child_spec flaky = worker_spec("flaky", events.self());
    flaky.start = [starts, first = std::move(flaky.start)](context& sup) -> pid {
      if (starts->fetch_add(1) > 0) throw std::runtime_error("flaky cannot start again");
      return first(sup);
    };
    const pid sup = start_supervisor(rt, {.max_restarts = 3, .max_seconds = 0s}, {std::move(flaky)});
    REQUIRE(events.next(1) == "start flaky");
    exits.watch(sup);
    rt.send(events.pid_of("flaky"), crash{});
    CHECK(exits.reason_of(sup) == exit_reason::shutdown());
    // Usually exactly 1 + 3; more only if the restarts straddled a second boundary.
    CHECK(starts->load() >= 1 + 3);
  }

  TEST_CASE("brutal_kill kills the child at once: its terminate does not run") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    child_spec k = worker_spec("k", events.self());
    k.shutdown = shutdown_mode::brutal_kill;
    const pid sup = start_supervisor(rt, {}, {std::move(k)});
    REQUIRE(events.next(1) == "start k");
    const pid child = events.pid_of("k");

    exits.watch(child);
    exits.watch(sup);
    rt.exit(sup, exit_reason::shutdown());
    CHECK(exits.reason_of(child) == exit_reason::killed());
    CHECK(exits.reason_of(sup) == exit_reason::shutdown());
    CHECK(events.pending() == 0);  // a terminate would have reported before the child's down
  }

  TEST_CASE("shutdown with a timeout kills a child that ignores the shutdown signal once the timeout passes") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    child_spec s = worker_spec("stubborn", events.self(), restart_type::permanent, on_shutdown::ignore);
    s.shutdown = shutdown_mode::timeout;
    s.shutdown_timeout = 50ms;
    const pid sup = start_supervisor(rt, {}, {std::move(s)});
    REQUIRE(events.next(1) == "start stubborn");
    const pid child = events.pid_of("stubborn");

    exits.watch(child);
    exits.watch(sup);
    const auto asked = std::chrono::steady_clock::now();
    rt.exit(sup, exit_reason::shutdown());
    CHECK(events.next(1) == "signal stubborn shutdown");  // asked nicely first
    CHECK(exits.reason_of(child) == exit_reason::killed());
    CHECK(std::chrono::steady_clock::now() - asked >= 50ms);
    CHECK(exits.reason_of(sup) == exit_reason::shutdown());
    CHECK(events.pending() == 0);  // killed: no terminate
  }

  TEST_CASE("shutdown infinity waits for the child however long it takes to exit") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    child_spec w = worker_spec("slow", events.self(), restart_type::permanent, on_shutdown::linger);
    w.shutdown = shutdown_mode::infinity;
    w.shutdown_timeout = 1ms;  // must be ignored
    const pid sup = start_supervisor(rt, {}, {std::move(w)});
    REQUIRE(events.next(1) == "start slow");
    const pid child = events.pid_of("slow");

    exits.watch(child);
    exits.watch(sup);
    rt.exit(sup, exit_reason::shutdown());
    CHECK(events.next(1) == "signal slow shutdown");
    CHECK(exits.quiet_for(100ms));  // neither killed nor given up on
    rt.send(child, release{});
    CHECK(events.next(1) == "stop slow shutdown");
    CHECK(exits.reason_of(child) == exit_reason::shutdown());
    CHECK(exits.reason_of(sup) == exit_reason::shutdown());
  }

  TEST_CASE("a child that fails to start stops the ones already started, in reverse, and the supervisor exits") {
    runtime rt({.threads = 2});
    event_log events(rt);
    probe reports(rt);
    const pid par = rt.spawn(std::make_unique<parent>(reports.self()));
    rt.send(par, launch{{},
                        {worker_spec("a", events.self()), worker_spec("b", events.self()), failing_spec("broken"),
                         worker_spec("d", events.self())}});
    const auto l = reports.receive<launched>();
    REQUIRE(l);

    CHECK(events.next(4) == "start a; start b; stop b shutdown; stop a shutdown");
    const auto sig = reports.receive<exit_signal>();
    REQUIRE(sig);
    CHECK(sig->from == l->sup);
    CHECK(sig->reason.what() == exit_reason::kind::shutdown);
    CHECK_MESSAGE(contains(sig->reason.detail(), "failed_to_start_child"), sig->reason.to_string());
    CHECK_MESSAGE(contains(sig->reason.detail(), "broken"), sig->reason.to_string());
    CHECK(events.pending() == 0);  // d was never started
    CHECK(rt.is_alive(par));       // the parent traps exits: it is told, not taken down
  }

  TEST_CASE("start_child starts a new child, supervises it, and lists it after the others") {
    runtime rt({.threads = 2});
    event_log events(rt);
    const pid sup = start_supervisor(rt, {}, {worker_spec("a", events.self())});
    REQUIRE(events.next(1) == "start a");

    auto r = start_child(rt, sup, worker_spec("late", events.self()), patience);
    REQUIRE(r.ok());
    CHECK(r->error.empty());
    REQUIRE(r->child.valid());
    CHECK(events.next(1) == "start late");
    CHECK(events.pid_of("late") == r->child);
    auto kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "a late");
    CHECK(kids[1].child == r->child);

    rt.send(r->child, crash{});
    CHECK(events.next(2) == "stop late {error, crash late}; start late");
    kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "a late");
    CHECK(kids[1].child == events.pid_of("late"));
  }

  TEST_CASE("start_child refuses an id that is already in use and leaves that child alone") {
    runtime rt({.threads = 2});
    event_log events(rt);
    const pid sup = start_supervisor(rt, {}, {worker_spec("a", events.self())});
    REQUIRE(events.next(1) == "start a");
    const pid a = events.pid_of("a");

    auto r = start_child(rt, sup, worker_spec("a", events.self()), patience);
    REQUIRE(r.ok());
    CHECK_FALSE(r->child.valid());
    CHECK_FALSE(r->error.empty());
    const auto kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "a");
    CHECK(kids[0].child == a);
    CHECK(events.pending() == 0);  // the duplicate's start function never ran
  }

  TEST_CASE("start_child whose start throws reports why and adds nothing") {
    runtime rt({.threads = 2});
    event_log events(rt);
    const pid sup = start_supervisor(rt, {}, {worker_spec("a", events.self())});
    REQUIRE(events.next(1) == "start a");

    auto r = start_child(rt, sup, failing_spec("broken"), patience);
    REQUIRE(r.ok());
    CHECK_FALSE(r->child.valid());
    CHECK_MESSAGE(contains(r->error, "no broken today"), r->error);
    CHECK(ids_of(children_of(rt, sup)) == "a");
  }

  TEST_CASE("terminate_child stops the child with reason shutdown and forgets it") {
    runtime rt({.threads = 2});
    event_log events(rt);
    const pid sup = start_supervisor(rt, {}, {worker_spec("a", events.self()), worker_spec("b", events.self()),
                                              worker_spec("c", events.self())});
    REQUIRE(events.next(3) == "start a; start b; start c");
    const pid a = events.pid_of("a"), c = events.pid_of("c");

    auto r = terminate_child(rt, sup, "b", patience);
    REQUIRE(r.ok());
    CHECK(*r);
    CHECK(events.next(1) == "stop b shutdown");
    const auto kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "a c");  // permanent, yet not restarted: it is gone
    CHECK(kids[0].child == a);
    CHECK(kids[1].child == c);
    CHECK(events.pending() == 0);
  }

  TEST_CASE("terminate_child of an unknown id answers false and changes nothing") {
    runtime rt({.threads = 2});
    event_log events(rt);
    const pid sup = start_supervisor(rt, {}, {worker_spec("a", events.self())});
    REQUIRE(events.next(1) == "start a");

    auto r = terminate_child(rt, sup, "nobody", patience);
    REQUIRE(r.ok());
    CHECK_FALSE(*r);
    const auto kids = children_of(rt, sup);
    REQUIRE(ids_of(kids) == "a");
    CHECK(kids[0].child == events.pid_of("a"));
    CHECK(events.pending() == 0);
  }

  TEST_CASE("a supervisor started from a process stops, with its children, when that parent exits abnormally") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    probe reports(rt);
    const pid par = rt.spawn(std::make_unique<parent>(reports.self()));
    rt.send(par, launch{{}, {worker_spec("a", events.self()), worker_spec("b", events.self())}});
    const auto l = reports.receive<launched>();
    REQUIRE(l);
    REQUIRE(events.next(2) == "start a; start b");

    exits.watch(par);
    exits.watch(l->sup);
    rt.send(par, crash{});
    CHECK(exits.reason_of(par) == exit_reason::error("crash parent"));
    CHECK(events.next(2) == "stop b shutdown; stop a shutdown");
    CHECK(exits.reason_of(l->sup) == exit_reason::error("crash parent"));  // the parent's reason
  }

  TEST_CASE("a crashing child affects nothing outside its supervisor") {
    runtime rt({.threads = 2});
    event_log events(rt);
    const pid echo = spawn_echo(rt);
    const pid sup = start_supervisor(rt, {}, {worker_spec("a", events.self()), worker_spec("b", events.self())});
    REQUIRE(events.next(2) == "start a; start b");

    rt.send(events.pid_of("a"), crash{});
    CHECK(events.next(2) == "stop a {error, crash a}; start a");
    CHECK(rt.is_alive(echo));
    auto r = rt.call<std::string>(echo, ping{}, patience);
    REQUIRE(r.ok());
    CHECK(*r == "pong");
    CHECK(ids_of(children_of(rt, sup)) == "a b");
  }

  TEST_CASE("a supervisor that gives up takes down only its own children") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    const pid echo = spawn_echo(rt);
    const pid sup = start_supervisor(rt, {.max_restarts = 0, .max_seconds = 60s},
                                     {worker_spec("a", events.self()), worker_spec("b", events.self())});
    REQUIRE(events.next(2) == "start a; start b");

    exits.watch(sup);
    rt.send(events.pid_of("a"), crash{});
    CHECK(events.next(2) == "stop a {error, crash a}; stop b shutdown");
    CHECK(exits.reason_of(sup) == exit_reason::shutdown());
    auto r = rt.call<std::string>(echo, ping{}, patience);
    REQUIRE(r.ok());
    CHECK(*r == "pong");
  }

  TEST_CASE("requests that reach a supervisor while it is stopping a child are answered once it is done") {
    runtime rt({.threads = 2});
    event_log events(rt);
    child_spec slow = worker_spec("slow", events.self(), restart_type::permanent, on_shutdown::linger);
    slow.shutdown = shutdown_mode::infinity;
    const pid sup = start_supervisor(rt, {}, {worker_spec("a", events.self()), std::move(slow)});
    REQUIRE(events.next(2) == "start a; start slow");

    auto terminated = std::async(std::launch::async, [&] { return terminate_child(rt, sup, "slow", patience); });
    REQUIRE(events.next(1) == "signal slow shutdown");  // the supervisor now waits for it to exit
    auto listed = std::async(std::launch::async, [&] { return which_children(rt, sup, patience); });
    rt.send(events.pid_of("slow"), release{});
    CHECK(events.next(1) == "stop slow shutdown");
    auto t = terminated.get();
    REQUIRE(t.ok());
    CHECK(*t);
    auto l = listed.get();
    REQUIRE(l.ok());
    CHECK(ids_of(*l) == "a");  // answered after the terminate_child that was under way
  }

  TEST_CASE("a supervisor can supervise a supervisor: stopping the outer one stops the inner one's children in turn") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    child_spec inner;
    inner.id = "inner";
    inner.shutdown = shutdown_mode::infinity;
    inner.start = [report = events.self()](context& sup) {
      return start_supervisor(sup, {}, {worker_spec("x", report), worker_spec("y", report)});
    };
    const pid outer =
        start_supervisor(rt, {}, {worker_spec("a", events.self()), std::move(inner), worker_spec("b", events.self())});
    // The inner supervisor starts its children while the outer one goes on with b.
    REQUIRE(sorted(events.next(4)) == "start a; start b; start x; start y");
    const auto kids = children_of(rt, outer);
    REQUIRE(ids_of(kids) == "a inner b");
    const pid inner_sup = kids[1].child;
    CHECK(ids_of(children_of(rt, inner_sup)) == "x y");

    exits.watch(inner_sup);
    exits.watch(outer);
    rt.exit(outer, exit_reason::shutdown());
    CHECK(events.next(4) == "stop b shutdown; stop y shutdown; stop x shutdown; stop a shutdown");
    CHECK(exits.reason_of(inner_sup) == exit_reason::shutdown());
    CHECK(exits.reason_of(outer) == exit_reason::shutdown());
  }

  TEST_CASE("a supervisor that gives up is restarted by its own supervisor, and restarts its children") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    child_spec inner;
    inner.id = "inner";
    inner.shutdown = shutdown_mode::infinity;
    inner.start = [report = events.self()](context& sup) {
      return start_supervisor(sup, {.max_restarts = 0}, {worker_spec("x", report), worker_spec("y", report)});
    };
    const pid outer = start_supervisor(rt, {}, {worker_spec("a", events.self()), std::move(inner)});
    REQUIRE(events.next(3) == "start a; start x; start y");
    auto kids = children_of(rt, outer);
    REQUIRE(ids_of(kids) == "a inner");
    const pid a = kids[0].child, inner_sup = kids[1].child;

    exits.watch(inner_sup);
    rt.send(events.pid_of("x"), crash{});
    CHECK(events.next(4) == "stop x {error, crash x}; stop y shutdown; start x; start y");
    CHECK(exits.reason_of(inner_sup) == exit_reason::shutdown());
    kids = children_of(rt, outer);
    REQUIRE(ids_of(kids) == "a inner");
    CHECK(kids[0].child == a);
    CHECK(kids[1].child != inner_sup);
    const auto inner_kids = children_of(rt, kids[1].child);
    REQUIRE(ids_of(inner_kids) == "x y");
    for (auto& k : inner_kids) CHECK(k.child == events.pid_of(k.id));
  }


  TEST_CASE("reports tell a watcher every start, exit and restart decision, in order, with the real exit reasons") {
    runtime rt({.threads = 2});
    event_log events(rt);
    probe reports(rt);
    auto as_text = [&]() -> std::string {
      auto r = reports.receive<supervisor_report>();
      if (!r) return "(nothing)";
      switch (r->what) {
        case supervisor_report::kind::started:
          return "started " + r->id + (r->restarted ? " again" : "") + (r->child.valid() ? "" : " (no pid)");
        case supervisor_report::kind::terminated:
          return "terminated " + r->id + " " + r->reason.to_string() +
                 (r->restarting ? " restarting " + std::to_string(r->recent_restarts) : "");
        case supervisor_report::kind::gave_up:
          return "gave up " + r->reason.to_string();
      }
      return "?";
    };
    const pid sup = start_supervisor(rt, {.max_restarts = 1, .max_seconds = 60s},
                                     {worker_spec("a", events.self(), restart_type::transient),
                                      worker_spec("b", events.self(), restart_type::temporary)},
                                     [to = reports.self(), &rt](const supervisor_report& r) { rt.send(to, r); });
    REQUIRE(events.next(2) == "start a; start b");
    CHECK(as_text() == "started a");
    CHECK(as_text() == "started b");

    rt.send(events.pid_of("a"), crash{});
    REQUIRE(events.next(2) == "stop a {error, crash a}; start a");
    CHECK(as_text() == "terminated a {error, crash a} restarting 1");
    CHECK(as_text() == "started a again");

    rt.send(events.pid_of("b"), quit{exit_reason::error("b's own")});
    REQUIRE(events.next(1) == "stop b {error, b's own}");
    CHECK(as_text() == "terminated b {error, b's own}");  // temporary: never restarted, counts nothing

    exit_log exits(rt);
    exits.watch(sup);
    rt.send(events.pid_of("a"), crash{});  // a second restart within the minute: one too many
    REQUIRE(events.next(1) == "stop a {error, crash a}");
    CHECK(as_text() == "terminated a {error, crash a}");
    CHECK(as_text() == "gave up shutdown");
    CHECK(exits.reason_of(sup) == exit_reason::shutdown());
    CHECK(reports.pending() == 0);
  }

  TEST_CASE("a child that exits by itself while its supervisor stops another is reported with its own reason") {
    runtime rt({.threads = 2});
    event_log events(rt);
    exit_log exits(rt);
    probe reports(rt);
    child_spec slow = worker_spec("slow", events.self(), restart_type::permanent, on_shutdown::linger);
    slow.shutdown = shutdown_mode::infinity;
    // Stopped in reverse order: "slow" first, and while it lingers "quick" exits on its own, so
    // that the supervisor's monitor of it, once "slow" is gone, can only answer noproc.
    const pid sup = start_supervisor(rt, {}, {worker_spec("quick", events.self()), std::move(slow)},
                                     [to = reports.self(), &rt](const supervisor_report& r) { rt.send(to, r); });
    REQUIRE(events.next(2) == "start quick; start slow");
    const pid quick = events.pid_of("quick");
    exits.watch(quick);
    exits.watch(sup);
    rt.exit(sup, exit_reason::shutdown());
    REQUIRE(events.next(1) == "signal slow shutdown");
    rt.send(quick, quit{exit_reason::error("quick's own")});
    REQUIRE(exits.reason_of(quick) == exit_reason::error("quick's own"));
    rt.send(events.pid_of("slow"), release{});
    CHECK(exits.reason_of(sup) == exit_reason::shutdown());
    std::vector<std::string> seen;
    for (int i = 0; i < 4; ++i) {
      auto r = reports.receive<supervisor_report>();
      REQUIRE(r);
      seen.push_back(r->id + (r->what == supervisor_report::kind::started ? " started" : " " + r->reason.to_string()));
    }
    CHECK(seen == std::vector<std::string>{"quick started", "slow started", "slow shutdown", "quick {error, quick's own}"});
  }
}
