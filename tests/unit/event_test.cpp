// The JSON pipeline event: exactness, parse errors, the jq bridge, nlohmann, sharing, metadata, size.
#include <doctest/doctest.h>

extern "C" {
#include <jq.h>
}

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <random>
#include <string>
#include <vector>

#include <sluice/pipeline/event.hpp>
#include <sluice/pipeline/event_json.hpp>
#include <sluice/pipeline/event_parser.hpp>

#include "pipeline/event_jq.hpp"

// Counts allocations, to show that small events allocate nothing. GCC cannot see that every
// operator new below pairs with this operator delete (both malloc/free), hence the pragma.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<long> allocations{0};
}
void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// Every form that can pair with the deletes below allocates with malloc too (libsimdjson uses
// the nothrow form; under ASan, a default one would be reported as freed with free()).
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace sluice::pipeline;
using sluice::pipeline::internal::append_jv;
using sluice::pipeline::internal::jq_bridge;

namespace {

event parsed(std::string_view line, parse_limits limits = {}) {
  event_parser p(limits);
  parse_result r = p.parse(line);
  if (!r) FAIL("does not parse: " << line << ": " << r.error().message);
  return std::move(r.value());
}

parse_error parse_fails(std::string_view line, parse_limits limits = {}) {
  event_parser p(limits);
  parse_result r = p.parse(line);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

/// jq 1.6's own `-c` text of `v` (consumed).
std::string jq_dump(jv v) {
  jv s = jv_dump_string(v, 0);
  std::string out = jv_string_value(s);
  jv_free(s);
  return out;
}

std::string our_dump(jv v) {
  std::string out;
  append_jv(v, out);
  jv_free(v);
  return out;
}

/// Runs the jq program `program` on `input` through the bridge; the events of its outputs.
std::vector<event> run_jq(const char* program, const event& input) {
  jq_state* jq = jq_init();
  REQUIRE(jq != nullptr);
  REQUIRE(jq_compile(jq, program) != 0);
  jq_bridge bridge;
  jv in = bridge.to_jv(input);
  REQUIRE(jv_is_valid(in));
  jq_start(jq, jv_copy(in), 0);
  std::vector<event> out;
  for (jv o = jq_next(jq); jv_is_valid(o); o = jq_next(jq)) out.push_back(bridge.to_event(o, input, in));
  jv_free(in);
  jq_teardown(&jq);
  return out;
}

struct counting_ack final : acknowledgement {
  int* acked;
  int* nacked;
  counting_ack(int* a, int* n) : acked(a), nacked(n) {}
  void settle(ack_outcome o) noexcept override {
    ++*(o == ack_outcome::acked ? acked : nacked);
    delete this;
  }
};

}  // namespace

TEST_SUITE("event") {

TEST_CASE("an event is one cache line") {
  CHECK(sizeof(event) == 64);
  CHECK(event::inline_capacity >= 20);  // every int64 and uint64 fits
}

TEST_CASE("numbers and strings pass through byte for byte") {
  for (const char* line : {"18446744073709551615", "-9223372036854775808", "9007199254740993", "-0.0", "1e308",
                           "5e-324", "1e-400", "1.000", "[ 1 , 2 ]", R"({"n": 9007199254740993, "x": 1.10})",
                           R"("tab\t quote\" back\\ slash\/ \u0000 nul")", R"("\ud83d\ude00 surrogate pair")",
                           "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", R"({"a":"\u00e9\u20AC"})"}) {
    const event e = parsed(line);
    CHECK(e.json() == line);
    std::string out = "x";
    e.append_json(out);
    CHECK(out == std::string("x") + line);
  }
}

TEST_CASE("a text longer than the inline capacity is shared by copies; a short one lives inline") {
  const event small = parsed("12345678901234567890");
  CHECK(small.is_inline());
  const event big = parsed(R"({"id": 1, "msg": "a message longer than the inline text"})");
  CHECK_FALSE(big.is_inline());
  const event copy = big;
  CHECK(copy.shares_payload_with(big));
  CHECK(copy.text().data() == big.text().data());
  event moved = event(copy);
  CHECK(moved.shares_payload_with(big));
}

TEST_CASE("assign_short_text_unchecked replaces any payload in place, metadata kept") {
  event e = parsed(R"({"id": 1, "msg": "a message longer than the inline text"})");  // a shared chunk
  e.set_time_ns(42);
  e.assign_short_text_unchecked("9223372036854775807");
  CHECK(e.is_inline());
  CHECK(e.text() == "9223372036854775807");
  CHECK(e.time_ns() == 42);
  e.assign_short_text_unchecked("7");
  CHECK(e.text() == "7");
  std::string out;
  e.append_json(out);
  CHECK(out == "7");
}

TEST_CASE("small events allocate nothing: parse, copy, move, write") {
  event_parser p;
  std::string out;
  out.reserve(256);
  (void)p.parse("1");  // warms the parser's buffers
  const long before = allocations.load();
  parse_result r = p.parse("1234567890123");
  REQUIRE(r.has_value());
  event e = std::move(r.value());
  event c = e;
  event m = std::move(c);
  m.append_json(out);
  const event made = event::from_text_unchecked("-42");
  made.append_json(out);
  CHECK(allocations.load() == before);
  CHECK(out == "1234567890123-42");
}

TEST_CASE("lines in one chunk parse in place and share it") {
  const std::string lines = R"({"a": "first line, long enough"})" "\n" R"({"b": "second line, long enough"})";
  chunk_ref chunk = text_chunk::make(lines.size());
  std::memcpy(chunk->data(), lines.data(), lines.size());
  event_parser p;
  const std::size_t nl = lines.find('\n');
  parse_result a = p.parse_in(chunk, 0, nl);
  parse_result b = p.parse_in(chunk, nl + 1, lines.size() - nl - 1);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a.value().shares_payload_with(b.value()));
  CHECK(a.value().text().data() == chunk->data());
  CHECK(b.value().json() == lines.substr(nl + 1));
}

TEST_CASE("every parse error says its kind and byte offset") {
  auto e = parse_fails(R"({"a": 1,})");
  CHECK(e.what == parse_error::kind::not_json);
  CHECK(e.byte == 8);
  CHECK(e.message == "not valid JSON (byte 9)");  // as a source reports it after file:line, counted from 1

  e = parse_fails("{\"a\": \"b\xff\"}");
  CHECK(e.what == parse_error::kind::not_utf8);
  CHECK(e.byte == 8);

  e = parse_fails(R"({"a": [[1]]})", {.max_depth = 2, .max_bytes = 100});
  CHECK(e.what == parse_error::kind::too_deep);
  CHECK(e.byte == 7);

  e = parse_fails(R"("0123456789")", {.max_depth = 8, .max_bytes = 10});
  CHECK(e.what == parse_error::kind::too_long);
  CHECK(e.byte == 10);

  e = parse_fails("[1, 1e400]");
  CHECK(e.what == parse_error::kind::not_json);
  CHECK(e.byte == 4);
  e = parse_fails("[18446744073709551616]");
  CHECK(e.what == parse_error::kind::not_json);
  CHECK(e.byte == 1);

  e = parse_fails("");
  CHECK(e.what == parse_error::kind::not_json);
  // Short scalars take the allocation-free path ([line]): still exactly one value per line.
  for (const char* two : {"1, 2", "1 2", "\"a\"]", "1],[2", "tru", "01"}) {
    e = parse_fails(two);
    CHECK_MESSAGE(e.what == parse_error::kind::not_json, two);
  }
  CHECK(parse_fails("1, 2").byte == 1);
  CHECK(parsed("  7  ").json() == "  7  ");
  e = parse_fails("{\"a\": 1} {");
  CHECK(e.what == parse_error::kind::not_json);
  CHECK(e.byte == 9);
  CHECK(to_string(parse_error::kind::too_deep) == "too_deep");
}

TEST_CASE("the depth limit is exact: a scalar is depth 0, [] depth 1") {
  const parse_limits two{.max_depth = 2, .max_bytes = 1000};
  for (const char* ok : {"1", "[]", "[[]]", "[[1]]", R"({"a":{"b":1}})", R"({"a":{}})", R"(["[[[[", {"k":1}])"})
    CHECK_MESSAGE(event_parser(two).parse(ok).has_value(), ok);
  for (const char* deep : {"[[[]]]", "[[[1]]]", R"({"a":{"b":{}}})", R"([1,[2,[3]]])"}) {
    auto e = parse_fails(deep, two);
    CHECK_MESSAGE(e.what == parse_error::kind::too_deep, deep);
  }
  CHECK(parse_fails(R"({"a":{"b":{}}})", two).byte == 10);
  CHECK(parse_fails(R"(["]]]]", [[]]])", two).byte == 10);
  // A long line still parses in place (chunk), with the same verdicts.
  std::string long_ok = "[[" + std::string(100, ' ') + "]]";
  CHECK(event_parser(two).parse(long_ok).has_value());
}

TEST_CASE("the jv writer prints numbers as jq 1.6 -c does") {
  std::mt19937_64 rng(18);
  std::vector<double> values = {0.0, -0.0, 1.0, -1.0, 0.1, 1e15, 1e16, 1e17, 1e-4, 1e-5, 123456789012345678.0,
                                12345678901234567890.0, 1e308, 5e-324, 2.2250738585072014e-308, 9007199254740993.0,
                                std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                                std::numeric_limits<double>::quiet_NaN(), 3.14159, 100.5, 0.000123, 1234.5e10};
  for (int i = 0; i < 20000; ++i) {
    double d;
    const std::uint64_t bits = rng();
    std::memcpy(&d, &bits, sizeof d);
    values.push_back(d);
    values.push_back(static_cast<double>(static_cast<std::int64_t>(rng()) >> (rng() % 64)));
    values.push_back(std::ldexp(static_cast<double>(rng() % 1000000), static_cast<int>(rng() % 80) - 40));
  }
  int mismatches = 0;
  for (double d : values) {
    const std::string ours = our_dump(jv_number(d));
    const std::string theirs = jq_dump(jv_number(d));
    if (ours != theirs && ++mismatches < 10) CHECK_MESSAGE(ours == theirs, "for " << d);
    if (std::isfinite(d) && !std::isnan(d)) CHECK(std::strtod(ours.c_str(), nullptr) == d);
  }
  CHECK(mismatches == 0);
}

TEST_CASE("the jv writer prints strings, arrays and objects as jq 1.6 -c does") {
  std::string every_byte;
  for (int c = 1; c < 128; ++c) every_byte += static_cast<char>(c);
  const std::vector<std::string> texts = {
      R"({"a":[1,2.5,"x",null,true,false,{}],"b":{"c":[]},"é€😀":"\u0000\u001f\u007f\"\\/"})",
      R"([1e1000,-1e1000,0.1,"\ud83d\ude00",{"z":1,"a":2,"m":{"k":[[[]]]}}])"};
  for (const auto& t : texts) CHECK(our_dump(jv_parse(t.c_str())) == jq_dump(jv_parse(t.c_str())));
  jv s = jv_string_sized(every_byte.data(), static_cast<int>(every_byte.size()));
  const std::string ours = our_dump(jv_copy(s));  // before jq_dump frees s
  CHECK(ours == jq_dump(s));
}

TEST_CASE("text becomes the jv jq would parse; outputs become events") {
  jq_bridge bridge;
  for (const char* text : {R"({"id": 7, "level": "error", "msg": "disk full", "ts": 1700000000.25})",
                           R"([1, -0.0, 1e308, 5e-324, "a\u0000b", {"k": {"k": [true, null]}}])", "42",
                           "18446744073709551615", R"("\ud83d\ude00")"}) {
    const event e = parsed(text);
    jv ours = bridge.to_jv(e);
    jv theirs = jv_parse(text);
    CHECK_MESSAGE(jv_equal(jv_copy(ours), jv_copy(theirs)), text);
    CHECK(our_dump(ours) == jq_dump(theirs));
  }
}

TEST_CASE("an output identical to its input keeps the input's bytes, even where jq would round") {
  event in = parsed(R"({"n": 9007199254740993, "level": "error",  "big": 18446744073709551615})");
  in.set_position(12);
  in.set_origin(make_origin("src", "in.jsonl"));
  auto out = run_jq("select(.level == \"error\")", in);
  REQUIRE(out.size() == 1);
  CHECK(out[0].json() == in.json());
  CHECK(out[0].shares_payload_with(in));
  CHECK(out[0].position() == 12);

  out = run_jq("{n, level}, .n, empty", in);
  REQUIRE(out.size() == 2);
  CHECK(out[0].json() == R"({"n":9007199254740992,"level":"error"})");  // jq 1.6 rounds: as `jq -c`
  CHECK(out[1].json() == "9007199254740992");
  CHECK(out[0].origin()->path == "in.jsonl");
  CHECK(out[1].position() == 12);
  CHECK(run_jq("select(.level == \"info\")", in).empty());
}

TEST_CASE("a jv payload is written like jq, copies as text, and seals into text") {
  event e = internal::event_of_jv(jv_parse(R"({"a":[1,2],"b":"x"})"));
  CHECK_FALSE(e.has_text());
  CHECK(e.json() == R"({"a":[1,2],"b":"x"})");
  const event copy = e;
  CHECK(copy.has_text());
  CHECK(copy.json() == e.json());
  e.seal();
  CHECK(e.has_text());
  CHECK(e.json() == copy.json());
}

TEST_CASE("nlohmann round trip keeps values exact and metadata in place") {
  event e = parsed(R"({"u": 18446744073709551615, "i": -9223372036854775808, "f": 0.1, "s": "é\u0000"})");
  e.set_position(3);
  nlohmann::json j = e;
  CHECK(j["u"].get<std::uint64_t>() == std::numeric_limits<std::uint64_t>::max());
  CHECK(j["i"].get<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
  j["added"] = true;
  j.get_to(e);
  CHECK(e.position() == 3);
  CHECK(nlohmann::json::parse(e.json()) == j);
  CHECK(e.json().find("18446744073709551615") != std::string::npos);
}

TEST_CASE("metadata survives copies and moves; extras are copied on write") {
  event e = parsed(R"({"user": "ann", "n": 1.0, "path": {"a/b": [10, 20]}})");
  e.set_origin(make_origin("logs", "/var/log/app.jsonl"));
  e.set_position(41);
  e.set_time_ns(1'700'000'000'000'000'000);
  e.set_message_id("msg-1");
  e.set_key("\"ann\"");
  event c = e;
  CHECK(c.origin() == e.origin());
  CHECK(c.origin()->stage == "logs");
  CHECK(c.position() == 41);
  CHECK(c.time_ns() == 1'700'000'000'000'000'000);
  CHECK(c.message_id() == "msg-1");
  CHECK(c.key() == std::optional<std::string_view>("\"ann\""));
  c.set_key("1");
  CHECK(e.key() == std::optional<std::string_view>("\"ann\""));
  c.clear_key();
  CHECK_FALSE(c.key().has_value());
  CHECK(c.message_id() == "msg-1");
  event m = std::move(c);
  CHECK(m.message_id() == "msg-1");
  CHECK(parsed("1").message_id().empty());
}

TEST_CASE("keys by JSON pointer agree between text and jv payloads") {
  event_parser p;
  const char* text = R"({"user": "ann", "n": 1.0, "m": 25, "path": {"a/b": [10, 20]}, "o": {"x": 2.50}})";
  const event t = parsed(text);
  const event j = internal::event_of_jv(jv_parse(text));
  for (const auto& [pointer, key] : std::vector<std::pair<const char*, const char*>>{
           {"/user", "\"ann\""}, {"/n", "1"}, {"/m", "25"}, {"/path/a~1b/1", "20"}, {"/o", R"({"x":2.5})"}}) {
    CHECK(p.key_of(t, pointer) == std::optional<std::string>(key));
    CHECK(p.key_of(j, pointer) == std::optional<std::string>(key));
  }
  for (const char* missing : {"/nope", "/path/a~1b/2", "/user/x", "/path/a~1b/01"}) {
    CHECK_FALSE(p.key_of(t, missing).has_value());
    CHECK_FALSE(p.key_of(j, missing).has_value());
  }
  CHECK(p.key_of(parsed("7"), "") == std::optional<std::string>("7"));
}

TEST_CASE("an acknowledgement settles once, when the last holder ends; any failure nacks") {
  int acked = 0, nacked = 0;
  {
    event e = parsed("1");
    e.set_ack(ack_ref(new counting_ack(&acked, &nacked)));
    event copy = e;
    event derived = parsed("2");
    derived.set_metadata_from(e);
    e.ack().done();
    copy.ack().done();
    CHECK(acked + nacked == 0);
    derived.ack().done();
  }
  CHECK(acked == 1);
  CHECK(nacked == 0);
  {
    event e = parsed("1");
    e.set_ack(ack_ref(new counting_ack(&acked, &nacked)));
    event copy = e;
    e.ack().done();
  }  // `copy` is lost without done(): the source must redeliver
  CHECK(acked == 1);
  CHECK(nacked == 1);
}

}  // TEST_SUITE
