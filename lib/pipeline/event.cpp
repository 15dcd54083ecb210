// The event's payload storage and metadata (see sluice/pipeline/event.hpp).
#include <sluice/pipeline/event.hpp>

#include <limits>
#include <new>
#include <stdexcept>

#include "pipeline/event_jq.hpp"

namespace sluice::pipeline {

static_assert(sizeof(jv) == sizeof(event::jv_bytes), "a jv fits the payload's jv bytes");
static_assert(alignof(jv) <= alignof(event::jv_bytes));
static_assert(sizeof(event) <= 64, "an event stays within a cache line");

// ---- text_chunk ------------------------------------------------------------------------------------

chunk_ref text_chunk::make(std::size_t capacity) {
  if (capacity > std::numeric_limits<std::uint32_t>::max() - json_padding)
    throw std::length_error("text chunk of " + std::to_string(capacity) + " bytes: at most 4 GiB");
  void* p = ::operator new(sizeof(text_chunk) + capacity + json_padding);
  auto* c = new (p) text_chunk(static_cast<std::uint32_t>(capacity));
  std::memset(c->data() + capacity, 0, json_padding);
  return chunk_ref::adopt(c);
}

void text_chunk::operator delete(void* p) noexcept { ::operator delete(p); }

// ---- payload ----------------------------------------------------------------------------------------

event event::from_text_unchecked(std::string_view json) {
  if (json.size() <= inline_capacity) {
    event e;
    e.set_small(json.data(), json.size());
    return e;
  }
  chunk_ref c = text_chunk::make(json.size());
  std::memcpy(c->data(), json.data(), json.size());
  return from_chunk_unchecked(c, 0, json.size());
}

event event::from_chunk_unchecked(const chunk_ref& chunk, std::size_t offset, std::size_t size) {
  event e;
  if (size <= inline_capacity) {
    e.set_small(chunk->data() + offset, size);
    return e;
  }
  chunk->retain();
  const chunk_slice s{chunk.get(), static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(size)};
  std::memcpy(e.rep_, &s, sizeof s);
  e.rep_[kind_at] = static_cast<unsigned char>(payload_kind::chunk);
  return e;
}

void event::copy_payload(const event& o) {
  switch (o.kind()) {
    case payload_kind::small: std::memcpy(rep_, o.rep_, sizeof rep_); return;
    case payload_kind::chunk:
      o.slice().chunk->retain();
      std::memcpy(rep_, o.rep_, sizeof rep_);
      return;
    case payload_kind::jv: {
      set_small("null", 4);  // a valid state should the writer throw
      event text = from_text_unchecked(o.json());
      steal_payload(text);
      return;
    }
  }
}

event& event::operator=(const event& o) {
  if (this != &o) {
    event copy(o);
    *this = std::move(copy);
  }
  return *this;
}

void event::drop_shared_payload() noexcept {
  if (kind() == payload_kind::chunk) {
    text_chunk* c = slice().chunk;
    if (c->release()) delete c;
  } else {
    jv v;
    std::memcpy(&v, rep_, sizeof v);
    jv_free(v);
  }
  set_small("null", 4);
}

bool event::shares_payload_with(const event& o) const noexcept {
  return kind() == payload_kind::chunk && o.kind() == payload_kind::chunk && slice().chunk == o.slice().chunk;
}

void event::append_json(std::string& out) const {
  if (kind() != payload_kind::jv) {
    out.append(text());
    return;
  }
  jv v;  // a view: append_jv does not consume it
  std::memcpy(&v, rep_, sizeof v);
  internal::append_jv(v, out);
}

std::string event::json() const {
  std::string out;
  append_json(out);
  return out;
}

void event::seal() {
  if (kind() != payload_kind::jv) return;
  event text = from_text_unchecked(json());
  drop_payload();
  steal_payload(text);
}

event event::adopt_jv(const jv_bytes& v) noexcept {
  event e;
  std::memcpy(e.rep_, v.bytes, sizeof v.bytes);
  e.rep_[kind_at] = static_cast<unsigned char>(payload_kind::jv);
  return e;
}

event::jv_bytes event::jv_payload() const noexcept {
  jv_bytes b;
  std::memcpy(b.bytes, rep_, sizeof b.bytes);
  return b;
}

// ---- metadata ---------------------------------------------------------------------------------------

std::string_view event::message_id() const noexcept {
  return meta_.extras ? std::string_view(meta_.extras->message_id) : std::string_view();
}

std::optional<std::string_view> event::key() const noexcept {
  if (!meta_.extras || !meta_.extras->key) return std::nullopt;
  return std::string_view(*meta_.extras->key);
}

/// The extras box, made or unshared first (copy on write): this event is its only holder after.
detail::event_extras& event::own_extras() {
  if (!meta_.extras) {
    meta_.extras = detail::shared_ref<detail::event_extras>::adopt(new detail::event_extras());
  } else if (meta_.extras->use_count() > 1) {
    auto* copy = new detail::event_extras();
    copy->message_id = meta_.extras->message_id;
    copy->key = meta_.extras->key;
    meta_.extras = detail::shared_ref<detail::event_extras>::adopt(copy);
  }
  return *meta_.extras.get();
}

void event::set_message_id(std::string id) { own_extras().message_id = std::move(id); }
void event::set_key(std::string json_text) { own_extras().key = std::move(json_text); }
void event::clear_key() {
  if (meta_.extras && meta_.extras->key) own_extras().key.reset();
}

namespace {

/// The acknowledgement of a merged event: ends its members' holders as it ends.
class combined_ack final : public acknowledgement {
 public:
  explicit combined_ack(std::vector<ack_ref> members) noexcept : members_(std::move(members)) {}

 private:
  void settle(ack_outcome outcome) noexcept override {
    if (outcome == ack_outcome::acked) {
      for (ack_ref& m : members_) m.done();
    }
    delete this;  // the members not done fail as they are destroyed
  }
  std::vector<ack_ref> members_;
};

}  // namespace

ack_ref combine_acks(std::vector<ack_ref> members) {
  std::erase_if(members, [](const ack_ref& m) { return !m; });
  if (members.empty()) return {};
  if (members.size() == 1) return std::move(members.front());
  return ack_ref(new combined_ack(std::move(members)));
}

}  // namespace sluice::pipeline
