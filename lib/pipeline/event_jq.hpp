// lib/pipeline/event_jq.hpp: events and libjq's jv, both ways (for the jq stage).
//
// - `append_jv` writes a jv as `jq -c` (jq 1.6) prints it, without building a jv string: numbers
//   with jq's 17-digit shortest format (1e+17, 1e-05, 1.7976931348623157e+308 for infinities, null
//   for NaN, -0), strings with jq's escapes (\u007f and control characters as \u00XX, non-ASCII
//   as is), objects in their insertion order.
// - `jq_bridge::to_jv` builds the jv straight from simdjson's DOM of the event's text (no nlohmann,
//   no second parse by libjq), with object keys from a cache: events repeat their keys, and a
//   cached key saves libjq an allocation, a UTF-8 check and a hash per member.
// - `jq_bridge::to_event` turns one output into an event: an output jv_identical to the input's jv
//   keeps the input event's text (so `select(...)` passes the original bytes through, exact even
//   for integers jq would round), anything else is written as text at once (the jv shares the
//   program's constants and the key cache, which must not leave this thread, see event.hpp).
//
// libjq's ownership rule: its functions consume their jv arguments, except jv_copy, jv_get_kind,
// jv_number_value, jv_string_value and the object iterator calls. Each function here says what
// it consumes. A jq_bridge belongs to one thread, like the jq_state it feeds.
#pragma once

extern "C" {  // libjq 1.6's headers do not say so themselves
#include <jv.h>
}

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <sluice/pipeline/event.hpp>

namespace sluice::pipeline::internal {

/// Appends `v` (not consumed) as compact JSON, as jq 1.6's `-c` prints it. Recursion is as deep
/// as the value (bounded by the limits where values come from).
void append_jv(jv v, std::string& out);

/// Appends the number `d` as jq 1.6 prints it.
void append_jq_number(double d, std::string& out);

/// Appends the string [p, p + n) (valid UTF-8) quoted and escaped as jq 1.6 prints it.
void append_jq_string(const char* p, std::size_t n, std::string& out);

/// Appends a number as key text: an integral value within 64 bits as an integer, any other as the
/// shortest text that reads back (std::to_chars), NaN as null.
void append_key_number(double d, std::string& out);

/// Where the nesting of the JSON text `text` first goes deeper than `max_depth` arrays and
/// objects (the bracket that does), or npos.
std::size_t too_deep_at(std::string_view text, std::size_t max_depth);

/// An event holding the jv `v` (consumed): a thread-confined payload, see event.hpp.
event event_of_jv(jv v) noexcept;
/// A new reference to `e`'s jv payload. Precondition: !e.has_text().
jv jv_of_event(const event& e) noexcept;

/// The jv at `pointer` in `v` (not consumed) as canonical key text (see event_parser::key_of).
std::optional<std::string> jv_key_at(jv v, std::string_view pointer);

/// Text <-> jv conversions with a key cache and reusable simdjson buffers. One thread at a time.
class jq_bridge {
 public:
  explicit jq_bridge(std::size_t max_depth = 512);
  jq_bridge(const jq_bridge&) = delete;
  jq_bridge& operator=(const jq_bridge&) = delete;
  ~jq_bridge();

  /// A new jv equal to `e`'s payload: built from its text, or a new reference to its jv.
  /// Returns jv_invalid() only if the text is not valid JSON (from_text_unchecked misused) or
  /// deeper than max_depth.
  jv to_jv(const event& e);

  /// The event for output `out` (consumed) of a program whose input was `input` (its metadata and
  /// acknowledgement are copied) converted to `input_jv` (not consumed).
  event to_event(jv out, const event& input, jv input_jv);

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace sluice::pipeline::internal
