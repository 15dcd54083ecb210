// The native jq subset against libjq: the same programs on the same events must give the same
// outputs (byte for byte), the same errors, and keep an unchanged input's bytes the same way.
#include <doctest/doctest.h>

#include <string>
#include <variant>
#include <vector>

#include <sluice/pipeline/event_parser.hpp>
#include <sluice/stages/jq_program.hpp>

using sluice::pipeline::event;
using sluice::pipeline::event_parser;
using sluice::stages::jq_error;
using sluice::stages::jq_outcome;
using sluice::stages::jq_program;

namespace {

jq_program compiled(const std::string& program, bool native) {
  auto c = jq_program::compile(program, jq_program::default_max_depth, native);
  REQUIRE_MESSAGE(std::holds_alternative<jq_program>(c), program);
  return std::move(std::get<jq_program>(c));
}

/// The outputs' texts, or "error: ..." with jq's message.
std::vector<std::string> run(jq_program& p, const event& input) {
  std::vector<std::string> texts;
  try {
    p.start(input);
    std::vector<event> out;
    while (p.next(16, input, out) == jq_outcome::more) {
    }
    for (const event& e : out) texts.push_back(e.json());
  } catch (const jq_error& e) {
    texts.push_back(std::string("error: ") + e.what());
  }
  return texts;
}

const std::vector<std::string> inputs = {
    R"({"id":1,"level":"error","msg":"disk full","host":"web-01","bytes":512})",
    R"({"id":2,"level":"info","msg":"ok","host":"web-02","bytes":12})",
    R"({"id": 3, "level": "error", "msg": "spaced \"quoted\" \u00e9 é", "n": 1.0, "big": 12345678901234567890})",
    R"({"level":"error"})",
    R"({"id":4,"level":null,"msg":["a",{"b":[1,2,{"c":null}]}],"n":-0.0,"x":1e17,"y":1e-5})",
    R"({"id":5,"a":{"b":{"c":[10,20,30]}},"level":"warn","msg":"x"})",
    R"({"id":6,"dup":1,"dup":2,"level":"error","msg":"dup keys"})",
    R"({"id":7,"nested":{"k":1,"k":2},"level":"error","msg":{"k":1,"k":2}})",
    R"([1,2,3])", R"("error")", R"(5)", R"(5.0)", R"(null)", R"(true)", R"(false)", R"({})", R"([])",
    R"({"level":"error","msg":"\u0000\u001f\u007f\ud83d\ude00","id":9007199254740993})",
    R"({"level":5,"id":[1],"msg":{"a":1}})",
    R"({"a":"b","level":"errorx","msg":"prefix"})",
};

const std::vector<std::string> native_programs = {
    ".",
    R"(select(.level == "error") | {id, msg})",
    R"(select(.level != "error"))",
    R"({id, msg})",
    R"({"id": .id, m: .msg, lvl: .level})",
    ".id",
    ".msg",
    ".a.b.c[1]",
    ".a.b.c[-1]",
    ".a.b.c[7]",
    R"(.a["b"].c)",
    R"(."level")",
    ".[0]",
    ".[-1]",
    R"(select(.id > 2 and .id <= 5))",
    R"(select(.id < 2 or .level == "warn"))",
    R"(select(.level | not))",
    R"(select((.level == "error") | not))",
    R"(.level == "error")",
    R"(.level < "f")",
    R"(.id >= 3)",
    R"(.n == 1)",
    R"(.level == null)",
    R"(select(.msg) | {msg})",
    "select(true)",
    "select(false)",
    "null",
    "5",
    R"("text")",
    "-1.5",
    R"({a: .id | . , b: {c: .level}})",
    R"({a: {b: .msg}})",
    R"({"k": 1, "k": 2})",
    ". # a comment\n| .level",
    R"(select(.id == 1) | .msg)",
    ".x",
    ".y",
    ".big",
    ".dup",
    ".nested",
    ".id and .msg",
    ".missing or false",
};

const std::vector<std::string> libjq_programs = {
    ".[]", ".a?", ".level // \"none\"", "length", "[.id]", ".id + 1", "if .id then 1 else 2 end", "$__loc__",
    R"x("\(.id)")x", ".a |= 1", "def f: .; f", ".. ", "{(.level): 1}", "select(.id) , .msg", "-.id", ".a.b?", "..|.a?",
};

}  // namespace

TEST_CASE("programs of the native subset are recognised, the others left to libjq") {
  for (const std::string& p : native_programs) CHECK_MESSAGE(compiled(p, true).uses_native_subset(), p);
  for (const std::string& p : libjq_programs) CHECK_MESSAGE(!compiled(p, true).uses_native_subset(), p);
  CHECK(!compiled(".", false).uses_native_subset());
}

TEST_CASE("the native subset gives libjq's outputs and errors, byte for byte, on every input") {
  event_parser parser;
  for (const std::string& program : native_programs) {
    jq_program native = compiled(program, true);
    jq_program plain = compiled(program, false);
    for (const std::string& line : inputs) {
      auto parsed = parser.parse(line);
      REQUIRE_MESSAGE(parsed, line);
      const event input = parsed.value();
      INFO("program: " << program << "   input: " << line);
      CHECK(run(native, input) == run(plain, input));
    }
  }
}

TEST_CASE("an output equal to its input keeps the input's bytes, as through libjq") {
  event_parser parser;
  const event input = parser.parse(R"({"id": 12345678901234567890, "level": "error"})").value();
  jq_program p = compiled(R"(select(.level == "error"))", true);
  CHECK(run(p, input) == std::vector<std::string>{input.json()});  // the integer beyond 2^53 unrounded
  jq_program q = compiled(".id", true);
  CHECK(run(q, input) == std::vector<std::string>{"12345678901234567000"});  // jq's double, as jq prints it
}

TEST_CASE("outputs carry their input's metadata") {
  event_parser parser;
  event input = parser.parse(R"({"id": 1, "level": "error", "msg": "m"})").value();
  input.set_position(42);
  input.set_time_ns(7);
  jq_program p = compiled("{id, msg}", true);
  p.start(input);
  std::vector<event> out;
  CHECK(p.next(10, input, out) == jq_outcome::finished);
  REQUIRE(out.size() == 1);
  CHECK(out[0].json() == R"({"id":1,"msg":"m"})");
  CHECK(out[0].position() == 42);
  CHECK(out[0].time_ns() == 7);
}
