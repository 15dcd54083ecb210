// The position-keeping JSON reader: parsing, positions, errors, ${ENV} substitution, overrides.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <sluice/pipeline/json_document.hpp>

using namespace sluice::pipeline;

namespace {

json_document parse_ok(std::string_view text) {
  auto result = parse_document(text, "p.json");
  if (!result)
    for (const auto& d : result.diagnostics()) FAIL_CHECK(d.to_string());
  REQUIRE(result.has_value());
  return std::move(result).value();
}

std::vector<diagnostic> parse_errors(std::string_view text) {
  auto result = parse_document(text, "p.json");
  REQUIRE_FALSE(result.has_value());
  REQUIRE_FALSE(result.diagnostics().empty());
  return result.diagnostics();
}

/// "line:col" of a location, for compact checks.
std::string at(const source_location& where) {
  return std::to_string(where.line) + ":" + std::to_string(where.column);
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

env_lookup fake_env(std::map<std::string, std::string, std::less<>> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST_SUITE("json_document") {

TEST_CASE("values and keys are located at their first character") {
  const auto doc = parse_ok(
      "{\n"
      "  \"stages\": {\n"
      "    \"in\": {\"type\": \"file\", \"options\": {\"path\": \"a.jsonl\"}},\n"
      "    \"out\": {\n"
      "      \"subscribe_to\": [\"in\", {\"producer\": \"in\"}]\n"
      "    }\n"
      "  }\n"
      "}\n");
  CHECK(doc.file() == "p.json");
  CHECK(doc.where("").file == "p.json");
  CHECK(at(doc.where("")) == "1:1");
  CHECK(at(doc.key_where("/stages")) == "2:3");
  CHECK(at(doc.where("/stages")) == "2:13");
  CHECK(at(doc.key_where("/stages/in")) == "3:5");
  CHECK(at(doc.where("/stages/in")) == "3:11");
  CHECK(at(doc.key_where("/stages/in/type")) == "3:12");
  CHECK(at(doc.where("/stages/in/type")) == "3:20");
  CHECK(at(doc.key_where("/stages/in/options/path")) == "3:40");
  CHECK(at(doc.where("/stages/in/options/path")) == "3:48");
  CHECK(at(doc.where("/stages/out/subscribe_to")) == "5:23");
  CHECK(at(doc.where("/stages/out/subscribe_to/0")) == "5:24");
  CHECK(at(doc.where("/stages/out/subscribe_to/1")) == "5:30");
  CHECK(at(doc.key_where("/stages/out/subscribe_to/1/producer")) == "5:31");
  CHECK(at(doc.where("/stages/out/subscribe_to/1/producer")) == "5:43");
}

TEST_CASE("a position falls back to the nearest located ancestor") {
  const auto doc = parse_ok("{\"a\": {\"b\": [10, 20]}}");
  CHECK(doc.where("/a/b/7") == doc.where("/a/b"));
  CHECK(doc.where("/a/missing/deeper") == doc.where("/a"));
  CHECK(doc.where("/nothing") == doc.where(""));
  CHECK(doc.key_where("/a/b/1") == doc.where("/a/b/1"));  // array elements have no key
  CHECK(doc.key_where("") == doc.where(""));

  const json_document built(nlohmann::ordered_json{{"x", 1}}, "built.json");
  CHECK(built.where("/x") == source_location{"built.json", 0, 0});
}

TEST_CASE("keys with '/' and '~' are escaped in pointers") {
  const auto doc = parse_ok("{\"a/b\": {\"c~d\": 1}}");
  CHECK(at(doc.where("/a~1b/c~0d")) == "1:17");
  CHECK(escape_pointer_segment("x~/y") == "x~0~1y");
}

TEST_CASE("columns count code points, and CRLF and a byte order mark are handled") {
  const auto doc = parse_ok("{\"\xC3\xA9\xE2\x82\xAC\": \"\xC3\xBC\", \"x\": 1}");
  CHECK(at(doc.key_where("/x")) == "1:13");
  CHECK(at(doc.where("/x")) == "1:18");

  const auto crlf = parse_ok("{\r\n  \"a\": 1\r\n}\r\n");
  CHECK(at(crlf.where("/a")) == "2:8");

  const auto bom = parse_ok("\xEF\xBB\xBF{\"a\": 1}");
  CHECK(at(bom.where("")) == "1:1");
  CHECK(at(bom.where("/a")) == "1:7");
}

TEST_CASE("object members keep the file's order") {
  const auto doc = parse_ok("{\"z\": 1, \"a\": 2, \"m\": {\"y\": 1, \"b\": 2}}");
  CHECK(doc.value().dump() == R"({"z":1,"a":2,"m":{"y":1,"b":2}})");
}

TEST_CASE("comments are skipped wherever whitespace may be, but not inside strings") {
  const auto doc = parse_ok(
      "// leading comment\n"
      "{ /* block */ \"url\": \"http://x//y\", // after a member\n"
      "  \"list\": [1, // one\n"
      "           2 /* two */, 3 /* multi\n"
      "  line */],\n"
      "  \"s\": \"/* not a comment */\"\n"
      "} // trailing, no newline");
  CHECK(doc.value()["url"] == "http://x//y");
  CHECK(doc.value()["list"] == nlohmann::ordered_json{1, 2, 3});
  CHECK(doc.value()["s"] == "/* not a comment */");
  CHECK(at(doc.where("/list/1")) == "4:12");
  CHECK(at(doc.key_where("/s")) == "6:3");
  CHECK(parse_ok("[] /* at the end */").value().empty());
}

TEST_CASE("malformed input is reported at the exact line and column, with what was expected") {
  struct example {
    std::string text;
    std::string position;
    std::string pointer;
    std::string problem;   // a part of the problem text
    std::string expected;  // a part of the expected text
  };
  const std::vector<example> examples = {
      {"", "1:1", "", "empty document", "a JSON value"},
      {"\n  // only a comment\n", "3:1", "", "empty document", "a JSON value"},
      {"{\"a\": \"abc", "1:7", "/a", "unterminated string", "closing '\"'"},
      {"{\n  \"a\": \"abc\n}", "2:8", "/a", "unterminated string: a line break", "end of the line"},
      {"{\n  \"a\": 1\n  \"b\": 2\n}", "3:3", "", "unexpected '\"'", "',' or '}' after an object member"},
      {"[1 2]", "1:4", "", "unexpected '2'", "',' or ']' after an array element"},
      {"{\"a\": 1,}", "1:8", "", "trailing comma before '}'", "another object member"},
      {"[1, 2, ]", "1:6", "", "trailing comma before ']'", "another array element"},
      {"{\"a\": \"x\\q\"}", "1:9", "/a", "invalid escape: '\\' followed by 'q'", "\\uXXXX"},
      {"[\"\\u12G4\"]", "1:3", "/0", "invalid \\u escape", "four hex digits"},
      {"[\"\\u12\"]", "1:3", "/0", "invalid \\u escape", "four hex digits"},
      {"[\"\\uD83D x\"]", "1:3", "/0", "unpaired high surrogate \\uD83D", "low surrogate"},
      {"[\"\\uD83D\\u0041\"]", "1:3", "/0", "unpaired high surrogate", "low surrogate"},
      {"[\"\\uDE00\"]", "1:3", "/0", "unpaired low surrogate \\uDE00", "high surrogate"},
      {"[\"a\tb\"]", "1:4", "/0", "unescaped control character U+0009", "\\t"},
      {"[\"\xC3(\"]", "1:3", "/0", "invalid UTF-8", "UTF-8"},
      {"[01]", "1:2", "/0", "leading zero", "no leading zeros"},
      {"[-01]", "1:3", "/0", "leading zero", "no leading zeros"},
      {"[-]", "1:3", "/0", "unexpected ']'", "a digit after '-'"},
      {"[1.]", "1:4", "/0", "unexpected ']'", "a digit after '.'"},
      {"[1e+]", "1:5", "/0", "unexpected ']'", "a digit in the exponent"},
      {"[.5]", "1:2", "/0", "unexpected '.'", "a value"},
      {"[+1]", "1:2", "/0", "unexpected '+'", "a value"},
      {"[1e400]", "1:2", "/0", "number out of range: 1e400", "at most"},
      {"[-1e400]", "1:2", "/0", "number out of range", "at most"},
      {"[True]", "1:2", "/0", "unexpected word 'True'", "true, false and null"},
      {"{\"a\": nul}", "1:7", "/a", "unexpected word 'nul'", "literals"},
      {"['a']", "1:2", "/0", "unexpected \"'\"", "a \"string\""},
      {"{a: 1}", "1:2", "", "unexpected 'a'", "a member name in double quotes"},
      {"{\"a\" 1}", "1:6", "", "unexpected '1'", "':' after the member name"},
      {"{\"a\": }", "1:7", "/a", "unexpected '}'", "a value"},
      {"{} x", "1:4", "", "unexpected 'x' after the end of the document", "one JSON value"},
      {"{}\n}", "2:1", "", "unexpected '}' after the end", "one JSON value"},
      {"{\"a\": 1", "1:8", "", "the object opened at 1:1 is not closed", "',' or '}'"},
      {"[1,\n 2", "2:3", "", "the array opened at 1:1 is not closed", "',' or ']'"},
      {"{\"a\": 1 / 2}", "1:9", "", "unexpected '/'", "'//' or '/*'"},
      {"{\"a\": 1 /* x", "1:9", "", "unterminated /* comment", "'*/'"},
      {"{\"stages\": {\"out\": {\"type\": \"x\" \"y\"}}}", "1:33", "/stages/out",
       "unexpected '\"'", "',' or '}'"},
      {"[\x01]", "1:2", "/0", "unexpected control character U+0001", "a value"},
      {"[\xC3\xA9]", "1:2", "/0", "unexpected '\xC3\xA9'", "a value"},
      {"[\xFF]", "1:2", "/0", "unexpected byte 0xFF", "a value"},
  };
  for (const auto& e : examples) {
    CAPTURE(e.text);
    const auto errors = parse_errors(e.text);
    REQUIRE(errors.size() == 1);
    const diagnostic& d = errors.front();
    CHECK(d.where.file == "p.json");
    CHECK(at(d.where) == e.position);
    CHECK(d.pointer == e.pointer);
    CHECK_MESSAGE(contains(d.problem, e.problem), d.problem);
    CHECK_MESSAGE(contains(d.expected, e.expected), d.expected);
  }
}

TEST_CASE("nesting is limited to max_depth levels") {
  const std::string ok = std::string(max_depth, '[') + std::string(max_depth, ']');
  CHECK(parse_ok(ok).value().is_array());

  const std::string deep = std::string(max_depth + 1, '[') + std::string(max_depth + 1, ']');
  const auto errors = parse_errors(deep);
  REQUIRE(errors.size() == 1);
  CHECK(at(errors[0].where) == "1:" + std::to_string(max_depth + 1));
  CHECK(contains(errors[0].problem, "nesting deeper than 512 levels"));
}

TEST_CASE("every duplicate key is reported in one go, at the second key") {
  const auto errors = parse_errors(
      "{\n"
      "  \"stages\": {\n"
      "    \"out\": {\n"
      "      \"type\": \"file\",\n"
      "      \"type\": \"stdout\"\n"
      "    },\n"
      "    \"in\": {\"a\": 1, \"b\": 2, \"a\": 3},\n"
      "    \"out\": {}\n"
      "  },\n"
      "  \"x\": 1, \"x\": 2\n"
      "}\n");
  REQUIRE(errors.size() == 4);
  CHECK(errors[0].to_string() ==
        "p.json:5:7: /stages/out: duplicate key \"type\", first at 4:7 "
        "(each key at most once in an object)");
  CHECK(at(errors[1].where) == "7:28");
  CHECK(errors[1].pointer == "/stages/in");
  CHECK(errors[1].problem == "duplicate key \"a\", first at 7:12");
  CHECK(at(errors[2].where) == "8:5");
  CHECK(errors[2].pointer == "/stages");
  CHECK(errors[2].problem == "duplicate key \"out\", first at 3:5");
  CHECK(errors[3].to_string() ==
        "p.json:10:11: /: duplicate key \"x\", first at 10:3 (each key at most once in an object)");
}

TEST_CASE("duplicate keys found before a syntax error are reported with it") {
  const auto errors = parse_errors("{\"a\": 1, \"a\": 2, \"b\" 3}");
  REQUIRE(errors.size() == 2);
  CHECK(at(errors[0].where) == "1:10");
  CHECK(contains(errors[0].problem, "duplicate key \"a\""));
  CHECK(at(errors[1].where) == "1:22");
}

TEST_CASE("string escapes decode to UTF-8, surrogate pairs included") {
  const auto doc = parse_ok(
      R"(["\u00e9", "\u20AC", "\uD83D\uDE00", "\u0000x", "\"\\\/\b\f\n\r\t", "é raw"])");
  const auto& v = doc.value();
  CHECK(v[0] == "\xC3\xA9");
  CHECK(v[1] == "\xE2\x82\xAC");
  CHECK(v[2] == "\xF0\x9F\x98\x80");
  CHECK(v[3] == std::string("\0x", 2));
  CHECK(v[4] == "\"\\/\b\f\n\r\t");
  CHECK(v[5] == "\xC3\xA9 raw");
  CHECK_NOTHROW((void)v.dump());  // valid UTF-8 throughout
}

TEST_CASE("integers stay exact integers, other numbers are doubles") {
  const auto doc = parse_ok(
      "[9007199254740993, -9223372036854775808, 18446744073709551615, 18446744073709551616,"
      " 1.5, 1e2, -0, 0, 1e-400, 4e-320, -2.5E-3]");
  const auto& v = doc.value();
  CHECK(v[0].is_number_unsigned());
  CHECK(v[0].get<std::uint64_t>() == 9007199254740993ULL);
  CHECK(v[1].is_number_integer());
  CHECK_FALSE(v[1].is_number_unsigned());
  CHECK(v[1].get<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
  CHECK(v[2].get<std::uint64_t>() == std::numeric_limits<std::uint64_t>::max());
  CHECK(v[3].is_number_float());  // beyond 64 bits
  CHECK(v[4].is_number_float());
  CHECK(v[4].get<double>() == 1.5);
  CHECK(v[5].is_number_float());
  CHECK(v[5].get<double>() == 100.0);
  CHECK(v[6].is_number_integer());
  CHECK(v[7].is_number_unsigned());
  CHECK(v[8].is_number_float());
  CHECK(v[8].get<double>() == 0.0);  // underflow
  CHECK(v[9].get<double>() > 0.0);   // a subnormal
  CHECK(v[10].get<double>() == -0.0025);
}

TEST_CASE("a diagnostic prints as file:line:col: /pointer: problem (expected)") {
  auto printed = [](std::string file, std::size_t line, std::string pointer, std::string expected) {
    diagnostic d;
    d.where.file = std::move(file);
    d.where.line = line;
    d.where.column = line == 0 ? 0 : 7;
    d.pointer = std::move(pointer);
    d.problem = "bad";
    d.expected = std::move(expected);
    return d.to_string();
  };
  CHECK(printed("f.json", 3, "/a/b", "good") == "f.json:3:7: /a/b: bad (good)");
  CHECK(printed("f.json", 3, "", "") == "f.json:3:7: /: bad");
  CHECK(printed("f.json", 0, "", "") == "f.json: bad");
  CHECK(printed("--set", 0, "/a", "good") == "--set: /a: bad (good)");
  CHECK(printed("", 1, "/a", "") == "<input>:1:7: /a: bad");
}

TEST_CASE("a document_result holds the document or the diagnostics") {
  auto good = parse_document("{}", "f.json");
  CHECK(good.has_value());
  CHECK(good.diagnostics().empty());
  CHECK(good->value().is_object());

  auto bad = parse_document("{", "f.json");
  CHECK_FALSE(bad);
  CHECK(bad.diagnostics().size() == 1);
  CHECK_THROWS_AS((void)bad.value(), std::logic_error);
}

TEST_CASE("environment references are substituted in string values, never in keys") {
  auto doc = parse_ok(R"({
    "path": "${DIR}/out-${N}.jsonl",
    "keep": "$${HOME} and $5 and $ and {DIR}",
    "${KEY}": "v",
    "n": 5,
    "list": ["${DIR:-x}", "${UNSET:-fall back}", "${EMPTY:-e}", "${EMPTY}", "${UNSET:-}"]
  })");
  const auto errors = substitute_env(
      doc, fake_env({{"DIR", "/tmp"}, {"N", "3"}, {"KEY", "k"}, {"EMPTY", ""}}));
  CHECK(errors.empty());
  const auto& v = doc.value();
  CHECK(v["path"] == "/tmp/out-3.jsonl");
  CHECK(v["keep"] == "${HOME} and $5 and $ and {DIR}");
  CHECK(v["${KEY}"] == "v");
  CHECK(v["n"] == 5);
  CHECK(v["list"] == nlohmann::ordered_json{"/tmp", "fall back", "e", "", ""});
  CHECK(at(doc.where("/path")) == "2:13");  // positions survive
}

TEST_CASE("every unset variable without a default is reported at its string") {
  auto doc = parse_ok(
      "{\n"
      "  \"a\": \"${NOPE}\",\n"
      "  \"b\": [\"x ${ALSO_NOPE} ${NOPE2}\"],\n"
      "  \"c\": \"${DIR}\"\n"
      "}");
  const auto errors = substitute_env(doc, fake_env({{"DIR", "/d"}}));
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].to_string() ==
        "p.json:2:8: /a: environment variable NOPE is not set "
        "(set it or give a default: ${NOPE:-value})");
  CHECK(at(errors[1].where) == "3:9");
  CHECK(errors[1].pointer == "/b/0");
  CHECK(errors[1].problem == "environment variable ALSO_NOPE is not set");
  CHECK(errors[2].problem == "environment variable NOPE2 is not set");
  CHECK(doc.value()["a"] == "${NOPE}");  // left as it was
  CHECK(doc.value()["c"] == "/d");       // the others are still substituted
}

TEST_CASE("malformed environment references are reported") {
  auto doc = parse_ok(R"(["${}", "${1A}", "${A:default}", "${A-b}", "${OPEN"])");
  const auto errors = substitute_env(doc, fake_env({{"A", "a"}}));
  REQUIRE(errors.size() == 5);
  CHECK(errors[0].problem == "malformed reference ${}");
  CHECK(errors[1].problem == "malformed reference ${1A}");
  CHECK(errors[2].problem == "malformed reference ${A:default}");
  CHECK(errors[3].problem == "malformed reference ${A-b}");
  CHECK(errors[4].problem == "unterminated reference ${OPEN");
  CHECK(errors[4].pointer == "/4");
  CHECK(contains(errors[0].expected, "${NAME:-default}"));
}

TEST_CASE("process_env reads the process environment") {
  ::setenv("SLUICE_JSON_DOCUMENT_TEST", "yes", 1);
  CHECK(process_env("SLUICE_JSON_DOCUMENT_TEST") == "yes");
  ::unsetenv("SLUICE_JSON_DOCUMENT_TEST");
  CHECK(process_env("SLUICE_JSON_DOCUMENT_TEST") == std::nullopt);
}

TEST_CASE("an override replaces values, parses JSON values and creates missing objects") {
  auto doc = parse_ok(
      "{\"stages\": {\"out\": {\"type\": \"file\", \"options\": {\"path\": \"a\"}}}, \"z\": 0}");
  const auto options_at = doc.where("/stages/out/options");
  for (const char* assignment :
       {"stages.out.options.path=x.jsonl", "stages.out.options.batch=100",
        "stages.out.options.extra.deep=true", "stages.out.options.list=[1, 2]",
        "stages.out.options.quoted=\"5\"", "stages.out.options.empty=",
        "/stages/out/options/a~1b.c=null", "stages.out.type=stdout", "stages.out.eq=a=b"}) {
    CAPTURE(assignment);
    const auto error = apply_override(doc, assignment);
    CHECK_MESSAGE(!error, error->to_string());
  }
  CHECK(doc.value().dump() ==
        R"({"stages":{"out":{"type":"stdout","options":{"path":"x.jsonl","batch":100,)"
        R"("extra":{"deep":true},"list":[1,2],"quoted":"5","empty":"","a/b.c":null},"eq":"a=b"}},"z":0})");
  CHECK(doc.where("/stages/out/options/path") == source_location{"--set", 0, 0});
  CHECK(doc.key_where("/stages/out/options/path") == source_location{"--set", 0, 0});
  CHECK(doc.where("/stages/out/options/extra") == source_location{"--set", 0, 0});
  CHECK(doc.where("/stages/out/options/list/1") == source_location{"--set", 0, 0});
  CHECK(doc.where("/stages/out/options") == options_at);  // untouched: still in the file

  REQUIRE_FALSE(apply_override(doc, "stages.out.options={}", "--env"));
  CHECK(doc.value()["stages"]["out"]["options"].empty());
  CHECK(doc.where("/stages/out/options/path") == source_location{"--env", 0, 0});
  CHECK(doc.where("/stages/out/options") == source_location{"--env", 0, 0});
}

TEST_CASE("an override builds an empty document and turns null into an object") {
  json_document doc;
  REQUIRE_FALSE(apply_override(doc, "a.b=1"));
  REQUIRE_FALSE(apply_override(doc, "/=root key"));
  CHECK(doc.value().dump() == R"({"a":{"b":1},"":"root key"})");

  auto with_null = parse_ok(R"({"options": null})");
  REQUIRE_FALSE(apply_override(with_null, "options.path=p"));
  CHECK(with_null.value().dump() == R"({"options":{"path":"p"}})");
}

TEST_CASE("an override through something other than an object is refused and changes nothing") {
  auto doc = parse_ok("{\n  \"stages\": [1],\n  \"name\": \"x\"\n}");
  const std::string before = doc.value().dump();

  const auto through_array = apply_override(doc, "stages.0.x=1");
  REQUIRE(through_array);
  CHECK(through_array->to_string() ==
        "p.json:2:13: /stages: cannot apply --set stages.0.x=1: /stages is an array, not an "
        "object (a path through objects only; set /stages as a whole instead)");

  const auto through_string = apply_override(doc, "name.first.x=a");
  REQUIRE(through_string);
  CHECK(through_string->pointer == "/name");
  CHECK(contains(through_string->problem, "/name is a string, not an object"));
  CHECK(doc.value().dump() == before);

  auto array_root = parse_ok("[1]");
  const auto at_root = apply_override(array_root, "a=1");
  REQUIRE(at_root);
  CHECK(contains(at_root->problem, "the document is an array"));
}

TEST_CASE("malformed assignments are refused") {
  json_document doc(nlohmann::ordered_json::object(), "p.json");
  for (const char* assignment : {"no-equals", "=1", "a..b=1", ".a=1", "a.=1", "/a~2=1"}) {
    CAPTURE(assignment);
    const auto error = apply_override(doc, assignment);
    REQUIRE(error);
    CHECK(error->where == source_location{"--set", 0, 0});
    CHECK(contains(error->problem, std::string("cannot apply --set ") + assignment + ": "));
  }
  CHECK(apply_override(doc, "no-equals")->to_string() ==
        "--set: cannot apply --set no-equals: no '=' "
        "(path=value, e.g. stages.out.options.path=out.jsonl)");
  CHECK(doc.value().empty());
}

TEST_CASE("read_document reads a file and names it in every position") {
  const auto dir = std::filesystem::temp_directory_path();
  const auto path = dir / ("sluice_json_document_test_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(path, std::ios::binary);
    out << "{\n  \"a\": [1, 2] // comment\n}\n";
  }
  const auto result = read_document(path);
  std::filesystem::remove(path);
  REQUIRE(result.has_value());
  CHECK(result->where("/a/1") == source_location{path.string(), 2, 12});
}

TEST_CASE("read_document on a missing file or a directory gives one diagnostic with the reason") {
  const auto missing = std::filesystem::temp_directory_path() / "sluice_no_such_file.json";
  const auto result = read_document(missing);
  REQUIRE_FALSE(result.has_value());
  REQUIRE(result.diagnostics().size() == 1);
  CHECK(result.diagnostics()[0].to_string() ==
        missing.string() + ": cannot read: No such file or directory");

  const auto directory = read_document(std::filesystem::temp_directory_path());
  REQUIRE_FALSE(directory.has_value());
  CHECK(contains(directory.diagnostics()[0].problem, "cannot read: Is a directory"));
}

}  // TEST_SUITE
