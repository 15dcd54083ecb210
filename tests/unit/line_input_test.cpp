// The pieces the file and stdin sources read with: UTF-8 validation, JSON lines with a depth
// limit (the event parser), and the line reader's length limit.
#include <doctest/doctest.h>

#include <sluice/pipeline/event_parser.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "stages/line_reader.hpp"
#include "stages/utf8.hpp"

using namespace sluice::stages;

namespace {

/// A line_reader over a pipe holding `text` (written whole, then closed).
struct piped_reader {
  explicit piped_reader(const std::string& text, std::size_t max_line) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    REQUIRE(::write(fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fds[1]);
    reader.emplace(fds[0], /*owns=*/true, max_line);
  }
  /// Every result until the end, lines as themselves, a too-long line as "<too long>".
  std::vector<std::string> all() {
    std::vector<std::string> out;
    std::string line;
    for (;;) {
      const auto r = reader->next_line(line, -1);
      if (r == line_reader::result::end || r == line_reader::result::error) return out;
      out.push_back(r == line_reader::result::too_long ? "<too long>" : line);
    }
  }
  std::optional<line_reader> reader;
};

}  // namespace

TEST_SUITE("line_input") {
  TEST_CASE("first_invalid_utf8 accepts every well-formed sequence and finds the first bad byte") {
    CHECK(first_invalid_utf8("") == std::string_view::npos);
    CHECK(first_invalid_utf8("plain ascii, long enough for the 8-byte path") == std::string_view::npos);
    CHECK(first_invalid_utf8("\xC2\x80 \xDF\xBF \xE0\xA0\x80 \xED\x9F\xBF \xEE\x80\x80 \xEF\xBF\xBF") == std::string_view::npos);
    CHECK(first_invalid_utf8("\xF0\x90\x80\x80 \xF4\x8F\xBF\xBF") == std::string_view::npos);
    CHECK(first_invalid_utf8("ab\x80") == 2);              // a lone continuation byte
    CHECK(first_invalid_utf8("\xC0\xAF") == 0);            // overlong '/'
    CHECK(first_invalid_utf8("\xC1\xBF") == 0);            // overlong
    CHECK(first_invalid_utf8("\xE0\x9F\xBF") == 0);        // overlong three bytes
    CHECK(first_invalid_utf8("x\xED\xA0\x80") == 1);       // a surrogate
    CHECK(first_invalid_utf8("\xF0\x8F\xBF\xBF") == 0);    // overlong four bytes
    CHECK(first_invalid_utf8("\xF4\x90\x80\x80") == 0);    // above U+10FFFF
    CHECK(first_invalid_utf8("\xF5\x80\x80\x80") == 0);
    CHECK(first_invalid_utf8("12345678\xE2\x82") == 8);    // cut short at the end
    CHECK(first_invalid_utf8("\xE2\x28\xA1") == 0);        // a bad continuation
    CHECK(first_invalid_utf8(std::string_view("a\0b", 3)) == std::string_view::npos);
  }

  TEST_CASE("a source's parser takes values up to max_depth and refuses deeper ones without recursing") {
    using sluice::pipeline::event_parser;
    using sluice::pipeline::parse_error;
    auto parse = [](std::string_view line, std::size_t depth) { return event_parser({depth, 16u << 20}).parse(line); };
    CHECK(parse("3", 1));
    CHECK(parse("[[1]]", 2));
    CHECK(parse("[[[1]]]", 2).error().what == parse_error::kind::too_deep);
    CHECK(parse("{\"a\":{\"b\":[]}}", 2).error().what == parse_error::kind::too_deep);
    CHECK(parse("[[],[],{\"a\":1}]", 2));  // depth is nesting, not count
    CHECK(parse("\"[[[[\"", 1).value().json() == "\"[[[[\"");
    const std::string deep = std::string(1000000, '[') + std::string(1000000, ']');
    CHECK(parse(deep, 512).error().what == parse_error::kind::too_deep);
    const auto bad = parse("{\"a\": tru}", 10);
    CHECK(bad.error().what == parse_error::kind::not_json);
    CHECK(bad.error().byte == 9);  // the "}" where "true" went wrong
    const auto not_utf8 = parse("[\"\xC3\x28\"]", 10);
    CHECK(not_utf8.error().what == parse_error::kind::not_utf8);
    CHECK(not_utf8.error().byte == 2);
  }

  TEST_CASE("line_reader reports a line over the limit once and reads on after it") {
    piped_reader r("ok\n" + std::string(20, 'x') + "\nfine\r\n" + std::string(10, 'y') + "\r\n" + std::string(11, 'z'), 10);
    CHECK(r.all() == std::vector<std::string>{"ok", "<too long>", "fine", std::string(10, 'y'), "<too long>"});
  }

  TEST_CASE("line_reader drops a long line as it reads it, keeping at most the limit and a chunk") {
    piped_reader r(std::string(60000, 'x') + "\nafter", 100);
    CHECK(r.all() == std::vector<std::string>{"<too long>", "after"});
  }
}
