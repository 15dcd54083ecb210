// sluice/pipeline/event_parser.hpp: validates one line of JSON into an event, with simdjson.
//
// simdjson's DOM parser validates the whole value (structure, UTF-8, numbers) at over a GB/s; the
// event keeps the line's bytes, the DOM is thrown away. What is accepted: one JSON value (RFC 8259)
// with optional surrounding whitespace, integers within 64 bits (int64 or uint64), numbers within
// a double's range (1e400 and 2^64 are errors; 1e-400 is accepted), nested at most `max_depth`
// arrays and objects (a scalar is depth 0, `[]` depth 1). Errors say what and where (a byte
// offset into the line), found again on that slow path (simdjson reports no position).
//
// Padding: simdjson reads up to `json_padding` bytes past the end of its input. `parse_in` parses a
// slice of a `text_chunk` in place (a chunk has that padding past its capacity, and the bytes after
// a line inside it are readable too), so a line reader that reads into chunks copies nothing.
// `parse` takes any string_view and copies it once: inline into the event when small, else into a
// chunk of its own (which is then parsed in place).
//
// One parser per source instance; not thread-safe (it owns simdjson's reusable buffers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <sluice/pipeline/event.hpp>

namespace sluice::pipeline {

/// Limits on one line.
struct parse_limits {
  std::size_t max_depth = 512;         ///< deepest nesting of arrays and objects (at least 1)
  std::size_t max_bytes = 16u << 20;   ///< longest line accepted, in bytes (below 4 GiB)
};

/// Why a line is not an event.
struct parse_error {
  enum class kind : std::uint8_t { not_json, not_utf8, too_deep, too_long };
  kind what = kind::not_json;
  std::size_t byte = 0;  ///< 0-based offset of the problem in the line
  std::string message;   ///< e.g. "not valid JSON at byte 7: ..." (no file or line: the caller adds them)
};

/// The name of an error kind: "not_json", "not_utf8", "too_deep", "too_long".
std::string_view to_string(parse_error::kind k) noexcept;

/// An event or the reason there is none. Expected-like.
class parse_result {
 public:
  parse_result(event e) noexcept : state_(std::move(e)) {}
  parse_result(parse_error e) noexcept : state_(std::move(e)) {}
  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  /// Preconditions: has_value() / !has_value().
  event& value() noexcept { return *std::get_if<event>(&state_); }
  const parse_error& error() const noexcept { return *std::get_if<parse_error>(&state_); }

 private:
  std::variant<event, parse_error> state_;
};

/// Parses lines into events (see the file comment). Not thread-safe; one per source instance.
class event_parser {
 public:
  explicit event_parser(parse_limits limits = {});
  event_parser(event_parser&&) noexcept;
  event_parser& operator=(event_parser&&) noexcept;
  ~event_parser();

  const parse_limits& limits() const noexcept;

  /// Validates `line` (copied once: inline when small, else into a chunk).
  parse_result parse(std::string_view line);
  /// Validates bytes [offset, offset + size) of `chunk` in place; the event shares the chunk.
  parse_result parse_in(const chunk_ref& chunk, std::size_t offset, std::size_t size);

  /// The compact JSON text of the value at RFC 6901 `pointer` in `e`'s payload, or nullopt when
  /// there is none. Numbers are canonical so that equal values give equal keys whatever the form of
  /// the payload: an integral number within 64 bits prints as an integer (`1.0` -> `1`), any other
  /// as the shortest text that reads back. Strings print with JSON escapes; arrays and objects
  /// print compact.
  std::optional<std::string> key_of(const event& e, std::string_view pointer);

  /// The string `e`'s payload is, unescaped (valid until this parser's next call), or nullopt
  /// when the payload is not a string.
  std::optional<std::string_view> string_value(const event& e);

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace sluice::pipeline
