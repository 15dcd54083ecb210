// Timers, the name registry, and request/reply.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>

#include <sluice/process.hpp>

#include "../support/probe.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using sluice::testing::patience;
using sluice::testing::probe;

namespace {
std::unique_ptr<behaviour> echo() {
  struct b final : behaviour {
    void handle(context&, message& m) override {
      if (auto* r = m.get_if<request<int>>()) r->from.reply(r->body);
    }
  };
  return std::make_unique<b>();
}
}  // namespace

TEST_SUITE("timers") {
  TEST_CASE("send_after delivers the message after the delay, not before") {
    runtime rt({.threads = 2});
    probe out(rt);
    const auto start = std::chrono::steady_clock::now();
    rt.send_after(out.self(), std::string("late"), 50ms);
    CHECK(out.receive<std::string>() == "late");
    CHECK(std::chrono::steady_clock::now() - start >= 50ms);
  }

  TEST_CASE("timers fire in deadline order") {
    runtime rt({.threads = 2});
    probe out(rt);
    rt.send_after(out.self(), 3, 30ms);
    rt.send_after(out.self(), 1, 10ms);
    rt.send_after(out.self(), 2, 20ms);
    CHECK(out.receive<int>() == 1);
    CHECK(out.receive<int>() == 2);
    CHECK(out.receive<int>() == 3);
  }

  TEST_CASE("a cancelled timer never delivers; cancelling twice or after firing reports false") {
    runtime rt({.threads = 2});
    probe out(rt);
    const timer_ref cancelled = rt.send_after(out.self(), std::string("cancelled"), 20ms);
    const timer_ref fired = rt.send_after(out.self(), std::string("fired"), 40ms);
    CHECK(rt.cancel_timer(cancelled));
    CHECK_FALSE(rt.cancel_timer(cancelled));
    CHECK(out.receive<std::string>() == "fired");  // the cancelled one, due earlier, did not come
    CHECK_FALSE(rt.cancel_timer(fired));
  }

  TEST_CASE("a timer to a process that died meanwhile is dropped quietly") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = rt.spawn(echo());
    rt.send_after(p, 1, 10ms);
    rt.exit(p, exit_reason::kill());
    REQUIRE(rt.await_exit(p, patience));
    rt.send_after(out.self(), std::string("after"), 30ms);
    CHECK(out.receive<std::string>() == "after");
  }
}

TEST_SUITE("registry") {
  TEST_CASE("a registered name resolves to its process, and is freed when the process exits") {
    runtime rt({.threads = 2});
    const pid p = rt.spawn(echo());
    CHECK(rt.register_name("echo", p));
    CHECK(rt.whereis("echo") == p);
    probe out(rt);
    out.watch(p);
    rt.exit(p, exit_reason::kill());
    REQUIRE(out.exit_of(p));
    CHECK_FALSE(rt.whereis("echo").has_value());
  }

  TEST_CASE("a taken name cannot be registered again, and a dead process cannot be registered") {
    runtime rt({.threads = 2});
    const pid a = rt.spawn(echo());
    const pid b = rt.spawn(echo());
    CHECK(rt.register_name("svc", a));
    CHECK_FALSE(rt.register_name("svc", b));
    CHECK(rt.unregister_name("svc"));
    CHECK(rt.register_name("svc", b));
    rt.exit(a, exit_reason::kill());
    REQUIRE(rt.await_exit(a, patience));
    CHECK_FALSE(rt.register_name("other", a));
  }

  TEST_CASE("a process can register itself") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = rt.spawn([to = out.self()](context& self, message&) { self.send(to, self.register_name("me")); });
    rt.send(p, 1);
    CHECK(out.receive<bool>() == true);
    CHECK(rt.whereis("me") == p);
  }
}

TEST_SUITE("call") {
  TEST_CASE("a call from a plain thread returns the reply") {
    runtime rt({.threads = 2});
    const pid p = rt.spawn(echo());
    auto r = rt.call<int>(p, 7, patience);
    REQUIRE(r.ok());
    CHECK(r.value() == 7);
  }

  TEST_CASE("a call that is never answered times out") {
    runtime rt({.threads = 2});
    std::shared_ptr<reply_handle> kept = std::make_shared<reply_handle>();
    // The callee keeps the reply handle without answering.
    const pid p = rt.spawn([kept](context&, message& m) {
      if (auto* r = m.get_if<request<int>>()) *kept = std::move(r->from);
    });
    auto r = rt.call<int>(p, 1, 50ms);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == call_error::timeout);
  }

  TEST_CASE("a call to a dead process fails with noproc; to one that dies before answering, no_reply") {
    runtime rt({.threads = 2});
    const pid dead = rt.spawn(echo());
    rt.exit(dead, exit_reason::kill());
    REQUIRE(rt.await_exit(dead, patience));
    CHECK(rt.call<int>(dead, 1, patience).error() == call_error::noproc);
    const pid dier = rt.spawn([](context& self, message&) { self.exit(exit_reason::shutdown()); });
    CHECK(rt.call<int>(dier, 1, patience).error() == call_error::no_reply);
  }

  TEST_CASE("a reply of another type is reported as bad_reply_type") {
    runtime rt({.threads = 2});
    const pid p = rt.spawn(echo());
    CHECK(rt.call<std::string>(p, 1, patience).error() == call_error::bad_reply_type);
  }

  TEST_CASE("a process calls without blocking and gets the reply as a call_reply message") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid callee = rt.spawn(echo());
    const pid caller = rt.spawn([callee, to = out.self()](context& self, message& m) {
      if (m.is<int>()) {
        self.send(to, self.call(callee, 21, patience));
      } else if (auto* reply = m.get_if<call_reply>()) {
        REQUIRE(reply->result.ok());
        self.send(to, reply->ref);
        self.send(to, *reply->result.value().get_if<int>());
      }
    });
    rt.send(caller, 0);
    auto ref = out.receive<call_ref>();
    auto ref_back = out.receive<call_ref>();
    REQUIRE(ref);
    CHECK(ref == ref_back);
    CHECK(out.receive<int>() == 21);
  }

  TEST_CASE("a non-blocking call that is not answered in time yields one call_reply with timeout") {
    runtime rt({.threads = 2});
    probe out(rt);
    std::shared_ptr<reply_handle> kept = std::make_shared<reply_handle>();
    const pid silent = rt.spawn([kept](context&, message& m) {
      if (auto* r = m.get_if<request<int>>()) *kept = std::move(r->from);
    });
    const pid caller = rt.spawn([silent, to = out.self()](context& self, message& m) {
      if (m.is<int>()) {
        self.call(silent, 1, 20ms);
      } else if (auto* reply = m.get_if<call_reply>()) {
        self.send(to, reply->result.ok() ? std::string("reply") : std::string(to_string(reply->result.error())));
      } else if (m.is<std::string>()) {
        self.send_message(to, std::move(m));
      }
    });
    rt.send(caller, 0);
    CHECK(out.receive<std::string>() == "timeout");
    // A late answer is dropped: answer now, then a marker; the marker is the next thing we see.
    kept->reply(5);
    rt.send(caller, std::string("marker"));
    CHECK(out.receive<std::string>() == "marker");
  }

  TEST_CASE("a non-blocking call to a dead process yields noproc") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid dead = rt.spawn(echo());
    rt.exit(dead, exit_reason::kill());
    REQUIRE(rt.await_exit(dead, patience));
    const pid caller = rt.spawn([dead, to = out.self()](context& self, message& m) {
      if (m.is<int>()) {
        self.call(dead, 1, patience);
      } else if (auto* reply = m.get_if<call_reply>()) {
        self.send(to, reply->result.ok() ? std::string("reply") : std::string(to_string(reply->result.error())));
      }
    });
    rt.send(caller, 0);
    CHECK(out.receive<std::string>() == "noproc");
  }
}
