// jq_program: compile once, run many times; conversions, errors, halts, leaks, threads.
#include <doctest/doctest.h>

#include <malloc.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <sluice/stages/jq_program.hpp>

using nlohmann::json;
using sluice::stages::jq_error;
using sluice::stages::jq_outcome;
using sluice::stages::jq_program;

namespace {

/// Compiles `source`, failing the test when it does not compile.
jq_program compiled(const char* source) {
  auto r = jq_program::compile(source);
  if (auto* e = std::get_if<std::string>(&r)) FAIL("does not compile: " << *e);
  return std::get<jq_program>(std::move(r));
}

/// The compile error of `source` ("" if it compiles).
std::string compile_error(const char* source) {
  auto r = jq_program::compile(source);
  auto* e = std::get_if<std::string>(&r);
  return e == nullptr ? std::string() : *e;
}

/// All outputs of one run that finishes.
std::vector<json> outputs_of(jq_program& p, const json& input) {
  std::vector<json> out;
  CHECK(p.run(input, out) == jq_outcome::finished);
  return out;
}

/// Redirects the process's stderr (fd 2) to a temporary file while alive; `text()` reads it.
class stderr_capture {
 public:
  stderr_capture() : file_(std::tmpfile()), saved_(::dup(2)) {
    std::fflush(stderr);
    ::dup2(::fileno(file_), 2);
  }
  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;
  ~stderr_capture() {
    restore();
    std::fclose(file_);
  }
  std::string text() {
    restore();
    std::string out;
    std::rewind(file_);
    for (int c = std::fgetc(file_); c != EOF; c = std::fgetc(file_)) out += static_cast<char>(c);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* file_;
  int saved_;
};

const json log_line = json::parse(R"({"id": 7, "level": "error", "msg": "disk full",
                                     "host": "db-1", "ts": 1700000000.25})");

}  // namespace

TEST_SUITE("jq_program") {
  TEST_CASE("identity gives back the input unchanged") {
    auto p = compiled(".");
    auto out = outputs_of(p, log_line);
    REQUIRE(out.size() == 1);
    CHECK(out[0] == log_line);
    CHECK(p.source() == ".");
  }

  TEST_CASE("select keeps matching events and drops the others") {
    auto p = compiled(R"(select(.level == "error"))");
    CHECK(outputs_of(p, log_line) == std::vector<json>{log_line});
    CHECK(outputs_of(p, json{{"level", "info"}}).empty());
    CHECK(outputs_of(p, json::object()).empty());
  }

  TEST_CASE("object construction picks fields, with null for missing ones") {
    auto p = compiled("{id, msg}");
    CHECK(outputs_of(p, log_line) == std::vector<json>{json{{"id", 7}, {"msg", "disk full"}}});
    CHECK(outputs_of(p, json{{"id", 1}}) == std::vector<json>{json{{"id", 1}, {"msg", nullptr}}});
  }

  TEST_CASE("the log-line filter maps errors and drops the rest") {
    auto p = compiled(R"(select(.level == "error") | {id, msg})");
    CHECK(outputs_of(p, log_line) == std::vector<json>{json{{"id", 7}, {"msg", "disk full"}}});
    CHECK(outputs_of(p, json{{"id", 8}, {"level", "warn"}, {"msg", "slow"}}).empty());
  }

  TEST_CASE(".[] flattens into zero or more outputs, in order") {
    auto p = compiled(".[]");
    CHECK(outputs_of(p, json::array({1, "two", json::array({3})})) ==
          std::vector<json>{1, "two", json::array({3})});
    CHECK(outputs_of(p, json::array()).empty());
    CHECK(outputs_of(p, json{{"a", 1}, {"b", 2}}) == std::vector<json>{1, 2});

    auto q = compiled(".items[] | select(. > 1) | . * 10");
    CHECK(outputs_of(q, json{{"items", {1, 2, 3}}}) == std::vector<json>{20, 30});
  }

  TEST_CASE("outputs are appended to what the vector already holds") {
    auto p = compiled(".[]");
    std::vector<json> out{"earlier"};
    CHECK(p.run(json::array({1, 2}), out) == jq_outcome::finished);
    CHECK(out == std::vector<json>{"earlier", 1, 2});
  }

  TEST_CASE("arithmetic follows jq: doubles, integral results become integers") {
    auto p = compiled("[.a + .b, .a - .b, .a * .b, .a / .b, .a % .b, (.a | sqrt), -(.b)]");
    auto out = outputs_of(p, json{{"a", 9}, {"b", 2}});
    REQUIRE(out.size() == 1);
    CHECK(out[0] == json::parse("[11, 7, 18, 4.5, 1, 3, -2]"));
    CHECK(out[0][0].is_number_integer());
    CHECK(out[0][3].is_number_float());
    CHECK(out[0][5].is_number_integer());
    CHECK(out[0][6].get<std::int64_t>() == -2);

    auto sum = compiled("reduce .[] as $x (0; . + $x)");
    CHECK(outputs_of(sum, json::array({0.5, 0.25, 1})) == std::vector<json>{1.75});
  }

  TEST_CASE("strings with unicode survive and are measured in code points") {
    const std::string s = "h\xC3\xA9llo \xE2\x86\x92 \xF0\x9F\x98\x80";  // "héllo → 😀"
    auto p = compiled("[., length, (. + \"\xE2\x9C\x93\"), (explode | length), ascii_downcase]");
    auto out = outputs_of(p, json(s));
    REQUIRE(out.size() == 1);
    CHECK(out[0][0] == s);
    CHECK(out[0][1] == 9);
    CHECK(out[0][2] == s + "\xE2\x9C\x93");
    CHECK(out[0][3] == 9);
    CHECK(out[0][4] == s);

    auto keys = compiled("keys");
    CHECK(outputs_of(keys, json{{"\xC3\xA9t\xC3\xA9", 1}}) ==
          std::vector<json>{json::array({"\xC3\xA9t\xC3\xA9"})});

    auto nul = compiled(". + \"!\"");
    CHECK(outputs_of(nul, json(std::string("a\0b", 3))) == std::vector<json>{std::string("a\0b!", 4)});
  }

  TEST_CASE("invalid UTF-8 reaches jq with each bad byte replaced by U+FFFD") {
    auto p = compiled(".");
    CHECK(outputs_of(p, json(std::string("a\xFF" "b"))) ==
          std::vector<json>{std::string("a\xEF\xBF\xBD" "b")});
  }

  TEST_CASE("nested objects and arrays round-trip exactly") {
    const json doc = json::parse(R"({
      "a": [1, -2, 3.5, true, false, null, "s", [], {}, [[[]]], {"x": {"y": {"z": [1, {"w": null}]}}}],
      "b": {"": "empty key", "k with space": [0, -0.5, 1e300, -1e-300]},
      "c": "", "d": 9007199254740991, "e": -9007199254740991,
      "f": {"nested": [{"a": 1}, {"b": [2, 3]}, {"c": {"d": {"e": {}}}}]}
    })");
    auto p = compiled(".");
    auto out = outputs_of(p, doc);
    REQUIRE(out.size() == 1);
    CHECK(out[0] == doc);
    CHECK(out[0].dump() == doc.dump());

    auto path = compiled(".f.nested[2].c, .a[10].x.y.z[1]");
    CHECK(outputs_of(path, doc) == std::vector<json>{json{{"d", {{"e", json::object()}}}}, json{{"w", nullptr}}});
  }

  TEST_CASE("objects with many distinct and long keys convert exactly, run after run") {
    auto p = compiled("with_entries(.value += 1)");
    for (int round = 0; round < 3; ++round) {  // keys seen before come from the key cache
      json in = json::object();
      json want = json::object();
      for (int i = 0; i < 1500; ++i) {
        const std::string key = "key-" + std::to_string(i) + (i % 7 == 0 ? std::string(100, 'x') : "");
        in[key] = i;
        want[key] = i + 1;
      }
      CHECK(outputs_of(p, in) == std::vector<json>{want});
    }
    auto concat = compiled("keys[0] + \"!\"");  // jq must not append in place to a shared key
    CHECK(outputs_of(concat, json{{"k", 1}}) == std::vector<json>{"k!"});
    CHECK(outputs_of(concat, json{{"k", 1}}) == std::vector<json>{"k!"});
  }

  TEST_CASE("integers stay integers; what jq cannot hold exactly stays a double") {
    auto p = compiled(".");
    auto one = [&](const json& in) {
      auto out = outputs_of(p, in);
      REQUIRE(out.size() == 1);
      return out[0];
    };
    CHECK(one(json(42)).is_number_unsigned());
    CHECK(one(json(42)) == 42);
    CHECK(one(json(-42)).is_number_integer());
    CHECK(one(json(-42)).get<std::int64_t>() == -42);
    CHECK(one(json(0)).is_number_unsigned());
    CHECK(one(json(9007199254740991LL)).get<std::int64_t>() == 9007199254740991LL);  // 2^53 - 1
    CHECK(one(json(-9007199254740991LL)).get<std::int64_t>() == -9007199254740991LL);
    CHECK(one(json(3.0)).is_number_integer());  // a double jq cannot tell from 3
    CHECK(one(json(2.5)).is_number_float());

    const json big = one(json(9007199254740993ULL));  // 2^53 + 1: rounded by jq's doubles
    CHECK(big.is_number_float());
    CHECK(big.get<double>() == 9007199254740992.0);
    CHECK(one(json(18446744073709551615ULL)).is_number_float());

    const json minus_zero = one(json(-0.0));
    CHECK(minus_zero.is_number_float());
    CHECK(std::signbit(minus_zero.get<double>()));

    auto inc = compiled(".n + 1");
    CHECK(outputs_of(inc, json{{"n", 41}})[0].is_number_integer());
    CHECK(outputs_of(inc, json{{"n", 41}})[0] == 42);
  }

  TEST_CASE("binary values reach jq as arrays of bytes") {
    auto p = compiled(".");
    CHECK(outputs_of(p, json::binary({1, 2, 255})) == std::vector<json>{json::array({1, 2, 255})});
  }

  TEST_CASE("a compile error carries jq's messages, all of them, and prints nothing") {
    stderr_capture err;
    const std::string unterminated = compile_error("select(");
    CHECK(unterminated.find("syntax error") != std::string::npos);
    CHECK(unterminated.find("select(") != std::string::npos);  // jq quotes the source line
    CHECK(unterminated.find("1 compile error") != std::string::npos);

    const std::string two = compile_error("foo(1) | bar");
    CHECK(two.find("foo/1 is not defined") != std::string::npos);
    CHECK(two.find("bar/0 is not defined") != std::string::npos);
    CHECK(two.find("2 compile errors") != std::string::npos);

    auto with_nul = jq_program::compile(std::string_view("1\0+1", 4));
    REQUIRE(std::holds_alternative<std::string>(with_nul));
    CHECK(std::get<std::string>(with_nul).find("NUL") != std::string::npos);
    CHECK(err.text().empty());
  }

  TEST_CASE("a runtime error is thrown, not printed, and the program stays usable") {
    stderr_capture err;
    auto p = compiled(R"(if .fail then error("x") else .v end)");
    std::vector<json> out;
    try {
      (void)p.run(json{{"fail", true}}, out);
      FAIL("no jq_error");
    } catch (const jq_error& e) {
      CHECK(std::string(e.what()) == "x");
      CHECK(e.value() == "x");
      CHECK(e.exit_code() == 5);
      CHECK_FALSE(e.from_halt_error());
    }
    CHECK(out.empty());
    CHECK(outputs_of(p, json{{"fail", false}, {"v", 1}}) == std::vector<json>{1});

    auto index = compiled(".a");
    try {
      (void)index.run(json(5), out);
      FAIL("no jq_error");
    } catch (const jq_error& e) {  // jq's own words: 'Cannot index number with string "a"' here
      CHECK(std::string(e.what()).starts_with("Cannot index number with"));
      CHECK(std::string(e.what()).find("\"a\"") != std::string::npos);
    }
    CHECK(outputs_of(index, json{{"a", 2}}) == std::vector<json>{2});

    auto object = compiled("error({code: 7})");
    try {
      (void)object.run(json(nullptr), out);
      FAIL("no jq_error");
    } catch (const jq_error& e) {
      CHECK(std::string(e.what()) == R"({"code":7} (not a string))");
      CHECK(e.value() == json{{"code", 7}});
    }

    auto caught = compiled(R"(try error("inner") catch ("caught: " + .))");
    CHECK(outputs_of(caught, json(nullptr)) == std::vector<json>{"caught: inner"});
    CHECK(err.text().empty());
  }

  TEST_CASE("outputs produced before a runtime error stay appended, as the jq CLI prints them") {
    auto p = compiled(R"(1, error("stop"), 2)");
    std::vector<json> out;
    CHECK_THROWS_AS((void)p.run(json(nullptr), out), jq_error);
    CHECK(out == std::vector<json>{1});
  }

  TEST_CASE("halt ends the run early and the program stays usable") {
    auto p = compiled("if . == 2 then halt else ., . end");
    std::vector<json> out;
    CHECK(p.run(json(2), out) == jq_outcome::halted);
    CHECK(out.empty());
    CHECK(outputs_of(p, json(1)) == std::vector<json>{1, 1});
    CHECK(p.run(json(2), out) == jq_outcome::halted);
  }

  TEST_CASE("halt_error is a jq_error with its code, and repeated halts free their message once") {
    stderr_capture err;
    auto p = compiled(R"(if .stop then ("bye " + .who | halt_error(3)) else .who end)");
    for (int i = 0; i < 5; ++i) {  // libjq 1.6 alone would free each message twice (ASan sees it)
      std::vector<json> out;
      try {
        (void)p.run(json{{"stop", true}, {"who", "ann"}}, out);
        FAIL("no jq_error");
      } catch (const jq_error& e) {
        CHECK(std::string(e.what()) == "bye ann");
        CHECK(e.exit_code() == 3);
        CHECK(e.from_halt_error());
      }
      CHECK(outputs_of(p, json{{"stop", false}, {"who", "bob"}}) == std::vector<json>{"bob"});
    }
    auto object = compiled("{a: [1]} | halt_error");
    std::vector<json> out;
    CHECK_THROWS_WITH_AS((void)object.run(json(nullptr), out), R"({"a":[1]})", jq_error);
    CHECK_THROWS_WITH_AS((void)object.run(json(nullptr), out), R"({"a":[1]})", jq_error);
    CHECK(err.text().empty());
  }  // the programs' teardown would be the second free

  TEST_CASE("debug is dropped and input finds no more inputs") {
    stderr_capture err;
    auto p = compiled("debug | . + 1");
    CHECK(outputs_of(p, json(1)) == std::vector<json>{2});
    auto in = compiled("[., input]");
    std::vector<json> out;
    CHECK_THROWS_AS((void)in.run(json(1), out), jq_error);
    auto first = compiled("[., (try input catch \"none\")]");
    CHECK(outputs_of(first, json(1)) == std::vector<json>{json::array({1, "none"})});
    CHECK(err.text().empty());
  }

  TEST_CASE("regular expressions work") {
    auto p = compiled(R"(select(.msg | test("^disk")) | .msg | sub("full"; "ok"))");
    CHECK(outputs_of(p, log_line) == std::vector<json>{"disk ok"});
    CHECK(outputs_of(p, json{{"msg", "cpu hot"}}).empty());
  }

  TEST_CASE("nesting deeper than max_depth is a jq_error; within it converts") {
    auto p = compiled(".");
    auto nested = [](std::size_t depth) {
      json j = json::array();
      for (std::size_t i = 1; i < depth; ++i) j = json::array({std::move(j)});
      return j;
    };
    const json ok = nested(jq_program::default_max_depth);
    CHECK(outputs_of(p, ok) == std::vector<json>{ok});
    std::vector<json> out;
    CHECK_THROWS_AS((void)p.run(nested(jq_program::default_max_depth + 1), out), jq_error);
    CHECK(outputs_of(p, json(1)) == std::vector<json>{1});

    auto deep_out = compiled("reduce range(513) as $i (0; [.])");
    CHECK_THROWS_AS((void)deep_out.run(json(nullptr), out), jq_error);
    CHECK_THROWS_AS((void)deep_out.run(json(nullptr), out), jq_error);  // and again: still usable
  }

  TEST_CASE("an output built deeper than max_depth is a jq_error naming the limit, without recursing down it") {
    // libjq frees a value recursively, one frame per level: a million levels overflow the stack
    // unless the converter takes the value apart itself.
    auto p = compiled("reduce range(1000000) as $i (0; [.])");
    std::vector<json> out;
    for (int i = 0; i < 2; ++i) {
      try {
        (void)p.run(json(nullptr), out);
        FAIL("no jq_error");
      } catch (const jq_error& e) {
        CHECK(std::string(e.what()) == "jq output nested deeper than max_depth (512 levels)");
      }
    }
    CHECK(out.empty());
  }

  TEST_CASE("max_depth is a program's own, in and out") {
    auto r = jq_program::compile(".", 3);
    REQUIRE(std::holds_alternative<jq_program>(r));
    auto& p = std::get<jq_program>(r);
    CHECK(p.max_depth() == 3);
    const json three = json::parse("[[[1]]]");
    CHECK(outputs_of(p, three) == std::vector<json>{three});
    std::vector<json> out;
    CHECK_THROWS_WITH_AS((void)p.run(json::parse("[[[[1]]]]"), out), "jq input nested deeper than max_depth (3 levels)", jq_error);
    auto wrap = std::get<jq_program>(jq_program::compile("[.]", 3));
    CHECK_THROWS_WITH_AS((void)wrap.run(three, out), "jq output nested deeper than max_depth (3 levels)", jq_error);
    CHECK(std::get<jq_program>(jq_program::compile(".", 0)).max_depth() == 1);
    CHECK(std::get<jq_program>(jq_program::compile(".", 1 << 30)).max_depth() == jq_program::max_max_depth);
  }

  TEST_CASE("next takes a run's outputs a few at a time and resumes where it stopped") {
    auto p = compiled("range(10)");
    std::vector<json> out;
    CHECK_FALSE(p.running());
    p.start(json(nullptr));
    CHECK(p.running());
    CHECK(p.next(4, out) == jq_outcome::more);
    CHECK(out == std::vector<json>{0, 1, 2, 3});
    CHECK(p.next(4, out) == jq_outcome::more);
    CHECK(p.next(4, out) == jq_outcome::finished);
    CHECK_FALSE(p.running());
    CHECK(out.size() == 10);
    CHECK(out.back() == 9);
    CHECK(p.next(4, out) == jq_outcome::finished);  // no run: nothing more
    CHECK(out.size() == 10);

    auto exact = compiled("1, 2");  // stopping exactly at the last output: the end shows at the next call
    exact.start(json(nullptr));
    out.clear();
    CHECK(exact.next(2, out) == jq_outcome::more);
    CHECK(exact.next(2, out) == jq_outcome::finished);
    CHECK(out == std::vector<json>{1, 2});
  }

  TEST_CASE("a run of a hundred million outputs is taken in pieces in bounded memory, and can be left") {
    auto p = compiled("range(100000000) | {n: .}");
    std::vector<json> out;
    p.start(json(nullptr));
    CHECK(p.next(1000, out) == jq_outcome::more);
    const auto before = ::mallinfo2().uordblks;
    for (int i = 0; i < 1000; ++i) {
      out.clear();
      REQUIRE(p.next(1000, out) == jq_outcome::more);
    }
    CHECK(::mallinfo2().uordblks <= before + (1U << 20));
    CHECK(out.back() == json{{"n", 1000 * 1000 + 999}});
    p.abandon();
    CHECK_FALSE(p.running());
    CHECK(p.next(10, out) == jq_outcome::finished);
    p.start(json(nullptr));  // a new run starts from the beginning
    out.clear();
    CHECK(p.next(2, out) == jq_outcome::more);
    CHECK(out == std::vector<json>{json{{"n", 0}}, json{{"n", 1}}});
  }

  TEST_CASE("an error or a halt in a run taken piecewise ends it") {
    auto p = compiled(R"(1, 2, error("three"), 4)");
    std::vector<json> out;
    p.start(json(nullptr));
    CHECK(p.next(1, out) == jq_outcome::more);
    CHECK_THROWS_WITH_AS((void)p.next(5, out), "three", jq_error);
    CHECK_FALSE(p.running());
    CHECK(out == std::vector<json>{1, 2});
    auto h = compiled("1, halt, 2");
    h.start(json(nullptr));
    CHECK(h.next(1, out) == jq_outcome::more);
    CHECK(h.next(1, out) == jq_outcome::halted);
    CHECK_FALSE(h.running());
  }

  TEST_CASE("a moved program keeps working; the moved-to one tears down its old state") {
    auto p = compiled(". + 1");
    jq_program q = std::move(p);
    CHECK(outputs_of(q, json(1)) == std::vector<json>{2});
    auto r = compiled(". * 2");
    r = std::move(q);
    CHECK(outputs_of(r, json(5)) == std::vector<json>{6});
  }

  TEST_CASE("100000 small runs leak nothing") {
    auto p = compiled(R"(select(.level == "error") | {id, msg, tags: [.tags[] | ascii_upcase]})");
    std::vector<json> out;
    auto run_many = [&](int n) {
      for (int i = 0; i < n; ++i) {
        out.clear();
        json ev{{"id", i}, {"level", i % 2 == 0 ? "error" : "info"}, {"msg", std::to_string(i)},
                {"tags", {"a", "b"}}};
        REQUIRE(p.run(ev, out) == jq_outcome::finished);
        REQUIRE(out.size() == (i % 2 == 0 ? 1U : 0U));
      }
    };
    run_many(1000);
    const auto before = ::mallinfo2().uordblks;
    run_many(100000);
    const auto after = ::mallinfo2().uordblks;
    CHECK(after <= before + (1U << 20));  // a leak of 16 bytes a run would show 1.6 MB
    REQUIRE(out.empty());
    (void)p.run(json{{"id", 1}, {"level", "error"}, {"msg", "x"}, {"tags", json::array()}}, out);
    CHECK(out == std::vector<json>{json{{"id", 1}, {"msg", "x"}, {"tags", json::array()}}});
  }

  TEST_CASE("two programs run at the same time on two threads") {
    auto work = [](std::string* failure) {
      auto r = jq_program::compile(R"([.[] | select(test("[02468]$")) | tonumber] | add)");
      if (!std::holds_alternative<jq_program>(r)) {
        *failure = "compile";
        return;
      }
      auto& p = std::get<jq_program>(r);
      std::vector<json> out;
      for (int i = 0; i < 20000; ++i) {
        out.clear();
        const json in = json::array({std::to_string(i), std::to_string(i + 1), "10"});
        if (p.run(in, out) != jq_outcome::finished || out.size() != 1 ||
            out[0] != (i % 2 == 0 ? i + 10 : i + 11)) {
          *failure = "run " + std::to_string(i);
          return;
        }
      }
    };
    std::string f1, f2;
    std::thread t1(work, &f1);
    std::thread t2(work, &f2);
    t1.join();
    t2.join();
    CHECK(f1.empty());
    CHECK(f2.empty());
  }

  TEST_CASE("a program can move to another thread between runs") {
    auto p = compiled(".x * 2");
    CHECK(outputs_of(p, json{{"x", 1}}) == std::vector<json>{2});
    std::vector<json> out;
    std::thread([&] { (void)p.run(json{{"x", 2}}, out); }).join();
    CHECK(out == std::vector<json>{4});
    CHECK(outputs_of(p, json{{"x", 3}}) == std::vector<json>{6});
  }
}
