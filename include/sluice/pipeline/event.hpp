// sluice/pipeline/event.hpp: the event JSON pipelines carry: a JSON payload plus metadata.
//
// Parse once, convert never. The payload is EITHER
// - validated JSON text, kept byte for byte as read: up to `event::inline_capacity` bytes inside
//   the event (an integer's text: no allocation), longer ones as a slice of a shared, immutable,
//   padded `text_chunk` (a line reader's read buffer, or one chunk per line). Copies share it (one
//   atomic increment). Writing it appends the bytes as they are: an event no stage looks into goes
//   from source to sink without being parsed into a tree or serialised again, so integers beyond
//   2^53, -0.0, 1e308 and escapes survive exactly;
// - or a parsed value, a libjq `jv` (kept opaque here: <jv.h> is not included). libjq's reference
//   counts are not atomic and a jq program's outputs share its constants and cached keys, so a jv
//   payload belongs to the thread that made it: `seal()` turns it into text before the event
//   leaves its stage, and copying a jv event gives a text copy (the jq stage seals its outputs).
//
// How the stages will use it (the migration, next session):
// - sources (file, stdin, and later brokers): one `event_parser` per instance; the line reader reads
//   into a `text_chunk` (which has `json_padding` spare bytes past its capacity), parses each line in
//   place with `parse_in(chunk, offset, size)`, and sets origin (one `make_origin` per instance),
//   position (the line number, or the broker's sequence), time (when read: one clock read per
//   chunk, not per line), and for brokers the message id and an `ack_ref`. `range` makes events with
//   `from_text_unchecked(std::to_chars text)`, inline, no allocation.
// - sinks: `append_json(out)` per event into the write buffer, then `ack().done()` after the flush.
// - jq: lib/pipeline/event_jq.hpp's `jq_bridge`: text -> jv straight from simdjson's DOM (cached
//   keys), and each output -> a text event (an output identical to the input keeps the input's
//   bytes), with the input's metadata and ack_ref; the input's ack_ref is `done()` at the end.
// - batch: a batch of events is a JSON array: `[`, each `append_json`, `]`, into one text event;
//   its members' ack_refs are kept until the batch is written.
// - partition dispatcher: `event_parser::key_of(event, pointer)` (or the event's explicit `key()`)
//   gives the key's compact JSON text; integers parse back for `value mod N`, others hash.
// - plugins and the C++ registry: the same type; <sluice/pipeline/event_json.hpp> converts to and
//   from nlohmann::json, the convenient but slower path (a tree per event).
//
// Size: 64 bytes (payload 24, origin 8, position 8, time 8, extras 8, acknowledgement 8). A value
// type: one thread uses an event at a time; copies and destruction are safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <sluice/pipeline/event_metadata.hpp>

namespace sluice::pipeline {

/// Bytes that must be readable past the end of a text handed to simdjson (its SIMDJSON_PADDING).
inline constexpr std::size_t json_padding = 64;

/// A block of bytes with `json_padding` zeroed bytes past its capacity. Writable by its creator
/// until shared; immutable once events refer to it. Capacity below 4 GiB.
class text_chunk final : public detail::ref_counted {
 public:
  /// A new chunk of `capacity` bytes (throws std::length_error at 4 GiB - json_padding).
  static detail::shared_ref<text_chunk> make(std::size_t capacity);
  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
  const char* data() const noexcept { return reinterpret_cast<const char*>(this + 1); }
  std::size_t capacity() const noexcept { return capacity_; }

  static void operator delete(void* p) noexcept;

 private:
  explicit text_chunk(std::uint32_t capacity) noexcept : capacity_(capacity) {}
  std::uint32_t capacity_;
};

using chunk_ref = detail::shared_ref<text_chunk>;

/// A JSON payload plus metadata. See the file comment.
class event {
 public:
  /// Text payloads up to this size live inside the event.
  static constexpr std::size_t inline_capacity = 22;

  /// JSON `null`, no metadata.
  event() noexcept { set_small("null", 4); }
  /// `json` must be one valid JSON value (a parser's or a writer's output): not checked. Copied
  /// inline when small, else into a chunk of its own.
  static event from_text_unchecked(std::string_view json);
  /// Bytes [offset, offset + size) of `chunk`, which must be one valid JSON value: not checked.
  /// Shares the chunk (or copies the bytes inline when small).
  static event from_chunk_unchecked(const chunk_ref& chunk, std::size_t offset, std::size_t size);
  /// Replaces the payload with `json` (one valid JSON value of at most inline_capacity bytes: not
  /// checked), written in place: the cheapest way to fill an event emplaced in a batch with a
  /// short text such as a number (no temporary event to move, no call).
  void assign_short_text_unchecked(std::string_view json) noexcept {
    drop_payload();
    rep_[kind_at] = static_cast<unsigned char>(payload_kind::small);
    rep_[size_at] = static_cast<unsigned char>(json.size());
    for (std::size_t i = 0; i < json.size(); ++i) rep_[i] = static_cast<unsigned char>(json[i]);
  }

  event(const event& o) : meta_(o.meta_) { copy_payload(o); }
  event(event&& o) noexcept : meta_(std::move(o.meta_)) { steal_payload(o); }
  event& operator=(const event& o);
  event& operator=(event&& o) noexcept;
  ~event() { drop_payload(); }

  // ---- payload
  /// True when the payload is text (else a jv, see the file comment).
  bool has_text() const noexcept { return kind() != payload_kind::jv; }
  /// The payload's JSON text as kept. Precondition: has_text().
  std::string_view text() const noexcept;
  /// Appends the payload as compact JSON: text as kept, a jv as `jq -c` prints it.
  void append_json(std::string& out) const;
  /// The payload as JSON text (append_json into a new string).
  std::string json() const;
  /// Turns a jv payload into text (no-op for text): call before the event leaves its thread.
  void seal();
  /// True when the text lives inside the event (no allocation).
  bool is_inline() const noexcept { return kind() == payload_kind::small; }
  /// True when both payloads are the same shared storage (a chunk slice): for tests.
  bool shares_payload_with(const event& o) const noexcept;

  // ---- metadata
  const event_origin* origin() const noexcept { return meta_.origin.get(); }
  void set_origin(origin_ref o) noexcept { meta_.origin = std::move(o); }
  /// The line number (1-based) or a broker's sequence; 0 when unknown.
  std::uint64_t position() const noexcept { return meta_.position; }
  void set_position(std::uint64_t p) noexcept { meta_.position = p; }
  /// Event time in nanoseconds since the Unix epoch; 0 when unset (sources set it: when read).
  std::int64_t time_ns() const noexcept { return meta_.time_ns; }
  void set_time_ns(std::int64_t t) noexcept { meta_.time_ns = t; }
  /// The broker's message id ("" when none).
  std::string_view message_id() const noexcept;
  void set_message_id(std::string id);
  /// The key's compact JSON text, when one was set (partitioning and windows).
  std::optional<std::string_view> key() const noexcept;
  void set_key(std::string json_text);
  void clear_key();
  /// The acknowledgement holder this event is (empty for sources that do not acknowledge).
  ack_ref& ack() noexcept { return meta_.ack; }
  const ack_ref& ack() const noexcept { return meta_.ack; }
  void set_ack(ack_ref a) noexcept { meta_.ack = std::move(a); }
  /// Copies all of `o`'s metadata (a derived event: a new holder of its acknowledgement too).
  void set_metadata_from(const event& o) { meta_ = o.meta_; }

  // ---- for lib/pipeline/event_jq (the jv payload; bytes of a libjq `jv`)
  struct jv_bytes {
    alignas(8) unsigned char bytes[16];
  };
  /// An event holding `v` (a jv's bytes, whose reference it adopts).
  static event adopt_jv(const jv_bytes& v) noexcept;
  /// The jv's bytes (still owned by the event). Precondition: !has_text().
  jv_bytes jv_payload() const noexcept;

 private:
  enum class payload_kind : std::uint8_t { small, chunk, jv };
  struct chunk_slice {
    text_chunk* chunk;
    std::uint32_t offset;
    std::uint32_t size;
  };
  struct metadata {
    origin_ref origin;
    std::uint64_t position = 0;
    std::int64_t time_ns = 0;
    detail::shared_ref<detail::event_extras> extras;
    ack_ref ack;
  };
  static constexpr std::size_t size_at = 22;  // small text's size byte
  static constexpr std::size_t kind_at = 23;

  payload_kind kind() const noexcept { return static_cast<payload_kind>(rep_[kind_at]); }
  void set_small(const char* p, std::size_t n) noexcept {
    std::memcpy(rep_, p, n);
    rep_[size_at] = static_cast<unsigned char>(n);
    rep_[kind_at] = static_cast<unsigned char>(payload_kind::small);
  }
  chunk_slice slice() const noexcept {
    chunk_slice s;
    std::memcpy(&s, rep_, sizeof s);
    return s;
  }
  void copy_payload(const event& o);
  void steal_payload(event& o) noexcept {
    std::memcpy(rep_, o.rep_, sizeof rep_);
    o.set_small("null", 4);
  }
  void drop_payload() noexcept {
    if (kind() != payload_kind::small) drop_shared_payload();
  }
  void drop_shared_payload() noexcept;
  detail::event_extras& own_extras();

  alignas(8) unsigned char rep_[24];
  metadata meta_;
};

inline std::string_view event::text() const noexcept {
  if (kind() == payload_kind::small) return {reinterpret_cast<const char*>(rep_), rep_[size_at]};
  const chunk_slice s = slice();
  return {s.chunk->data() + s.offset, s.size};
}

inline event& event::operator=(event&& o) noexcept {
  if (this != &o) {
    drop_payload();
    steal_payload(o);
    meta_ = std::move(o.meta_);
  }
  return *this;
}

}  // namespace sluice::pipeline
