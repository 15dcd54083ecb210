// Lines -> events with simdjson; errors located on the slow path (see event_parser.hpp).
#include <sluice/pipeline/event_parser.hpp>

#include <simdjson.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "pipeline/event_jq.hpp"
#include "stages/utf8.hpp"

namespace sluice::pipeline {

namespace {

/// Where the nesting of `text` first goes deeper than `max_depth` (the bracket that does), or npos.
std::size_t too_deep_at(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string_view::npos;
}

/// True when the number token `t` is outside what simdjson accepts (64-bit integers, doubles).
bool out_of_range(std::string_view t) {
  if (t.find_first_of(".eE") == std::string_view::npos) {
    if (t[0] == '-') {
      std::int64_t v;
      return std::from_chars(t.data(), t.data() + t.size(), v).ec != std::errc();
    }
    std::uint64_t v;
    return std::from_chars(t.data(), t.data() + t.size(), v).ec != std::errc();
  }
  const std::string s(t);
  return std::isinf(std::strtod(s.c_str(), nullptr));
}

/// Where the first number simdjson cannot hold starts, or npos.
std::size_t number_out_of_range_at(std::string_view text) {
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c != '-' && (c < '0' || c > '9')) continue;
    const std::size_t end = std::min(text.find_first_not_of("+-0123456789.eE", i), text.size());
    if (out_of_range(text.substr(i, end - i))) return i;
    i = end - 1;
  }
  return std::string_view::npos;
}

/// nlohmann's verdict on `text`: npos when it parses, else the 0-based offset of the error.
std::size_t syntax_error_at(std::string_view text) {
  struct locator : nlohmann::json_sax<nlohmann::json> {
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return true; }
    bool key(string_t&) override { return true; }
    bool end_object() override { return true; }
    bool start_array(std::size_t) override { return true; }
    bool end_array() override { return true; }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
      at = position > 0 ? position - 1 : 0;  // nlohmann counts the offending byte as read
      return false;
    }
    std::size_t at = std::string_view::npos;
  } sax;
  nlohmann::json::sax_parse(text, &sax);
  return sax.at;
}

/// The error, with its message as sources report it after "file:line: ": what is wrong, where
/// (the byte counted from 1), and a detail where one helps.
parse_error error_of(parse_error::kind what, std::size_t byte, std::string detail) {
  std::string message;
  switch (what) {
    case parse_error::kind::too_deep: message = detail; break;
    case parse_error::kind::too_long: message = detail; break;
    case parse_error::kind::not_utf8: message = "not valid UTF-8 (byte " + std::to_string(byte + 1) + ")"; break;
    case parse_error::kind::not_json:
      message = "not valid JSON (byte " + std::to_string(byte + 1) + ")";
      if (!detail.empty()) message += ": " + detail;
      break;
  }
  return parse_error{what, byte, std::move(message)};
}

}  // namespace

std::string_view to_string(parse_error::kind k) noexcept {
  switch (k) {
    case parse_error::kind::not_json: return "not_json";
    case parse_error::kind::not_utf8: return "not_utf8";
    case parse_error::kind::too_deep: return "too_deep";
    case parse_error::kind::too_long: return "too_long";
  }
  return "not_json";
}

struct event_parser::state {
  explicit state(parse_limits l) : limits(l) {
    scratch.reserve(event::inline_capacity + 2 + json_padding);  // parse() allocates nothing after
    limits.max_depth = std::max<std::size_t>(limits.max_depth, 1);
    limits.max_bytes = std::min<std::size_t>(limits.max_bytes, 0xFFFFFFFFu - json_padding);
    // simdjson counts one level more for a container holding a value, none for an empty one: at
    // max_depth it accepts only lines within the limit, and rejects a few that are (see deeper()).
    if (parser.allocate(initial_capacity, limits.max_depth) != simdjson::SUCCESS) throw std::bad_alloc();
    // simdjson sizes its document to the longest input seen: one parse of that size now, so that
    // lines up to it never allocate.
    std::string warm(initial_capacity + json_padding, ' ');
    warm[0] = '0';
    (void)parser.parse(warm.data(), initial_capacity, false);
  }
  static constexpr std::size_t initial_capacity = 4096;
  parse_limits limits;
  simdjson::dom::parser parser;
  std::unique_ptr<simdjson::dom::parser> deeper_parser;  ///< max_depth + 1, made when first needed
  std::string scratch;                                   ///< a small line with its padding

  std::optional<parse_error> validate(const char* p, std::size_t n);
  std::optional<parse_error> validate_small(std::string_view line);
  std::optional<parse_error> deeper(const char* p, std::size_t n);
  simdjson::dom::parser& deeper_one() {
    if (!deeper_parser) {
      deeper_parser = std::make_unique<simdjson::dom::parser>();
      if (deeper_parser->allocate(4096, limits.max_depth + 1) != simdjson::SUCCESS) throw std::bad_alloc();
    }
    return *deeper_parser;
  }
  parse_error describe(simdjson::error_code e, std::string_view text) const;
  std::string_view padded(const event& e);
};

/// A line of at most inline_capacity bytes, validated in the padded scratch buffer. simdjson
/// copies a number at the root into a new buffer (to read it safely), one allocation per line:
/// a scalar is parsed as `[line]` instead, which is valid with one element exactly when the line
/// is one valid value. Errors are described on the line itself.
std::optional<parse_error> event_parser::state::validate_small(std::string_view line) {
  const std::size_t first = line.find_first_not_of(" \t\r\n");
  if (line.size() > limits.max_bytes || first == std::string_view::npos || line[first] == '[' || line[first] == '{' || limits.max_depth < 2) {
    scratch.assign(line);
    scratch.append(json_padding, '\0');
    return validate(scratch.data(), line.size());
  }
  scratch.assign(1, '[');
  scratch.append(line);
  scratch.append(1, ']');
  scratch.append(json_padding, '\0');
  simdjson::dom::element root;
  const simdjson::error_code e = parser.parse(scratch.data(), line.size() + 2, false).get(root);
  if (e == simdjson::SUCCESS && simdjson::dom::array(root).size() == 1) return std::nullopt;
  scratch.assign(line);
  scratch.append(json_padding, '\0');
  return validate(scratch.data(), line.size());  // the verdict and the error on the line itself
}

std::optional<parse_error> event_parser::state::validate(const char* p, std::size_t n) {
  if (n > limits.max_bytes)
    return error_of(parse_error::kind::too_long, limits.max_bytes,
                    std::to_string(n) + " bytes, longer than max_bytes (" + std::to_string(limits.max_bytes) + ")");
  const simdjson::error_code e = parser.parse(p, n, false).error();
  if (e == simdjson::SUCCESS) return std::nullopt;
  if (e == simdjson::DEPTH_ERROR) return deeper(p, n);
  return describe(e, std::string_view(p, n));
}

/// The slow path for a line simdjson found too deep: exact by a scan, then parsed one level deeper.
std::optional<parse_error> event_parser::state::deeper(const char* p, std::size_t n) {
  const std::string_view text(p, n);
  if (const std::size_t at = too_deep_at(text, limits.max_depth); at != std::string_view::npos)
    return error_of(parse_error::kind::too_deep, at,
                    "nested deeper than max_depth (" + std::to_string(limits.max_depth) + ")");
  const simdjson::error_code e = deeper_one().parse(p, n, false).error();
  if (e == simdjson::SUCCESS) return std::nullopt;
  return describe(e, text);
}

parse_error event_parser::state::describe(simdjson::error_code e, std::string_view text) const {
  if (e == simdjson::UTF8_ERROR) {
    const std::size_t bad = stages::first_invalid_utf8(text);
    return error_of(parse_error::kind::not_utf8, bad == std::string_view::npos ? 0 : bad, "not valid UTF-8");
  }
  if (e == simdjson::EMPTY) return error_of(parse_error::kind::not_json, 0, "no JSON value");
  // nlohmann finds syntax errors (and reports 1e400 at its end); numbers out of simdjson's range
  // are found by a scan: whichever comes first.
  const std::size_t syntax = syntax_error_at(text);
  const std::size_t number = number_out_of_range_at(text);
  if (number != std::string_view::npos && number <= syntax)
    return error_of(parse_error::kind::not_json, number,
                    "number out of range (integers within 64 bits, other numbers within a double's range)");
  return error_of(parse_error::kind::not_json, syntax == std::string_view::npos ? 0 : syntax, "");
}

/// `e`'s text with json_padding readable bytes after it: in place for a chunk, else a copy.
std::string_view event_parser::state::padded(const event& e) {
  const std::string_view text = e.text();
  if (!e.is_inline()) return text;
  scratch.assign(text);
  scratch.append(json_padding, '\0');
  return {scratch.data(), text.size()};
}

event_parser::event_parser(parse_limits limits) : s_(std::make_unique<state>(limits)) {}
event_parser::event_parser(event_parser&&) noexcept = default;
event_parser& event_parser::operator=(event_parser&&) noexcept = default;
event_parser::~event_parser() = default;

const parse_limits& event_parser::limits() const noexcept { return s_->limits; }

parse_result event_parser::parse(std::string_view line) {
  if (line.size() > event::inline_capacity) {
    if (line.size() > s_->limits.max_bytes) return *s_->validate(line.data(), line.size());
    chunk_ref chunk = text_chunk::make(line.size());
    std::memcpy(chunk->data(), line.data(), line.size());
    return parse_in(chunk, 0, line.size());
  }
  if (auto error = s_->validate_small(line)) return std::move(*error);
  return event::from_text_unchecked(line);
}

parse_result event_parser::parse_in(const chunk_ref& chunk, std::size_t offset, std::size_t size) {
  if (auto error = s_->validate(chunk->data() + offset, size)) return std::move(*error);
  return event::from_chunk_unchecked(chunk, offset, size);
}

namespace {

void append_key(simdjson::dom::element el, std::string& out) {
  using simdjson::dom::element_type;
  switch (el.type()) {
    case element_type::INT64: out += std::to_string(std::int64_t(el)); return;
    case element_type::UINT64: out += std::to_string(std::uint64_t(el)); return;
    case element_type::DOUBLE: internal::append_key_number(double(el), out); return;
    case element_type::STRING: {
      const std::string_view s(el);
      internal::append_jq_string(s.data(), s.size(), out);
      return;
    }
    case element_type::BOOL: out += bool(el) ? "true" : "false"; return;
    case element_type::NULL_VALUE: out += "null"; return;
    case element_type::ARRAY: {
      out += '[';
      bool first = true;
      for (simdjson::dom::element x : simdjson::dom::array(el)) {
        if (!std::exchange(first, false)) out += ',';
        append_key(x, out);
      }
      out += ']';
      return;
    }
    case element_type::OBJECT: {
      out += '{';
      bool first = true;
      for (simdjson::dom::key_value_pair m : simdjson::dom::object(el)) {
        if (!std::exchange(first, false)) out += ',';
        internal::append_jq_string(m.key.data(), m.key.size(), out);
        out += ':';
        append_key(m.value, out);
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

std::optional<std::string> event_parser::key_of(const event& e, std::string_view pointer) {
  if (!e.has_text()) {
    jv v = internal::jv_of_event(e);
    auto key = internal::jv_key_at(v, pointer);
    jv_free(v);
    return key;
  }
  const std::string_view text = s_->padded(e);
  simdjson::dom::element root;
  auto error = s_->parser.parse(text.data(), text.size(), false).get(root);
  if (error == simdjson::DEPTH_ERROR) error = s_->deeper_one().parse(text.data(), text.size(), false).get(root);
  if (error != simdjson::SUCCESS) return std::nullopt;
  simdjson::dom::element at;
  if (root.at_pointer(pointer).get(at) != simdjson::SUCCESS) return std::nullopt;
  std::string out;
  append_key(at, out);
  return out;
}

std::optional<std::string_view> event_parser::string_value(const event& e) {
  if (!e.has_text()) return std::nullopt;
  const std::string_view text = e.text();
  if (text.size() < 2 || text.front() != '"') return std::nullopt;
  if (text.find('\\') == std::string_view::npos) return text.substr(1, text.size() - 2);  // nothing escaped
  const std::string_view padded = s_->padded(e);
  simdjson::dom::element root;
  if (s_->parser.parse(padded.data(), padded.size(), false).get(root) != simdjson::SUCCESS) return std::nullopt;
  return std::string_view(root);
}

}  // namespace sluice::pipeline
