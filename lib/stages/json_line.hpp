// lib/stages/json_line.hpp: parses one line of JSON with a limit on its nesting depth.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "stages/utf8.hpp"

namespace sluice::stages {

/// One parsed line: the value, or why there is none.
struct json_line {
  enum class status { ok, not_json, not_utf8, too_deep };
  status what = status::ok;
  nlohmann::json value;    ///< when ok
  std::size_t byte = 0;    ///< where the problem is (0-based), when not ok
};

namespace detail {

/// nlohmann's DOM builder behind a depth counter: an array or object opened beyond `max_depth`
/// ends the parse at once. nlohmann's parser itself is iterative; what recurses is everything done
/// with the value afterwards (dump, copy, comparison, the jq stage), so the limit is enforced here,
/// where untrusted input enters, at the cost of one counter per bracket.
class depth_limited_sax {
 public:
  using json = nlohmann::json;
  depth_limited_sax(json& root, std::size_t max_depth) : dom_(root, /*allow_exceptions=*/false), max_depth_(max_depth) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) { return dom_.number_float(v, s); }
  bool string(json::string_t& v) { return dom_.string(v); }
  bool binary(json::binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) { return deeper() && dom_.start_object(n); }
  bool key(json::string_t& k) { return dom_.key(k); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return deeper() && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& e) {
    // nlohmann counts the offending byte as read: position is 1-based.
    error_byte_ = position > 0 ? position - 1 : 0;
    return dom_.parse_error(position, token, e);
  }

  [[nodiscard]] bool too_deep() const noexcept { return too_deep_; }
  [[nodiscard]] std::size_t error_byte() const noexcept { return error_byte_; }

 private:
  bool deeper() {
    if (++depth_ <= max_depth_) return true;
    too_deep_ = true;
    return false;
  }
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
  bool too_deep_ = false;
  std::size_t error_byte_ = 0;
};

}  // namespace detail

/// Parses `line` as one JSON value nested at most `max_depth` arrays/objects deep (a scalar is
/// depth 0, `[]` depth 1). Invalid UTF-8 (which nlohmann rejects inside strings, and anywhere
/// else as a bad token) is told apart from other syntax errors, for the message.
inline json_line parse_json_line(std::string_view line, std::size_t max_depth) {
  json_line r;
  detail::depth_limited_sax sax(r.value, max_depth);
  if (nlohmann::json::sax_parse(line, &sax)) return r;
  r.value = nlohmann::json();  // what was built before the parse stopped (never deeper than the limit)
  if (sax.too_deep()) {
    r.what = json_line::status::too_deep;
    return r;
  }
  const std::size_t bad = first_invalid_utf8(line);
  r.what = bad == std::string_view::npos ? json_line::status::not_json : json_line::status::not_utf8;
  r.byte = bad == std::string_view::npos ? sax.error_byte() : bad;
  return r;
}

/// What is wrong with a line that did not parse, for an error message: "not valid JSON (byte 7)",
/// "not valid UTF-8 (byte 3)" or "nested deeper than max_depth (512)" (bytes counted from 1).
inline std::string problem_of(const json_line& parsed, std::size_t max_depth) {
  switch (parsed.what) {
    case json_line::status::ok: return {};
    case json_line::status::too_deep: return "nested deeper than max_depth (" + std::to_string(max_depth) + ")";
    case json_line::status::not_utf8: return "not valid UTF-8 (byte " + std::to_string(parsed.byte + 1) + ")";
    case json_line::status::not_json: break;
  }
  return "not valid JSON (byte " + std::to_string(parsed.byte + 1) + ")";
}

}  // namespace sluice::stages
