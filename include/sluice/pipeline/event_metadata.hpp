// sluice/pipeline/event_metadata.hpp: what a JSON pipeline event carries beside its payload.
//
// Vector and Benthos keep metadata beside the payload; so does sluice. The pieces:
// - `event_origin`: the source stage's name and the file (or stream) it reads. One per source
//   instance, shared by every event it emits (an atomic reference count, not a copy per event).
// - `acknowledgement` + `ack_ref`: issue 15's end-to-end acknowledgements. A source that can
//   acknowledge (a broker) attaches one acknowledgement per message; every event holding an
//   `ack_ref` to it is a *holder*. Copies of an event are holders too, and so are the events a stage
//   derives from it (a jq output copies its input's ack_ref). Each holder ends exactly once:
//     - `done()`: handled (written and flushed by a sink, or dropped on purpose by a filter);
//     - `fail()`, or destruction without `done()`: not handled (a stage error, a sink that cannot
//       write, a restart that loses the events an instance held).
//   When the last holder ends, the acknowledgement's `settle` runs once, on that thread, with
//   `acked` if every holder was done and `nacked` if any failed. Destruction counts as failure on
//   purpose: an event lost in a crash must make the broker redeliver, never be acknowledged.
//   Consequence for stage authors: a sink calls `done()` after the write is durable; a transform
//   copies the ack_ref into each output, then calls `done()` on its input.
// - `detail::event_extras`: the rarely set fields (broker message id, key) in one shared,
//   copy-on-write box, so that events without them pay one null pointer.
//
// Every type here is safe to copy and destroy from any thread (atomic counts); a given object is
// used by one thread at a time, like any value.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sluice::pipeline {

namespace detail {

/// An intrusive atomic reference count starting at 1: the creator holds the first reference.
class ref_counted {
 public:
  ref_counted() = default;
  ref_counted(const ref_counted&) = delete;
  ref_counted& operator=(const ref_counted&) = delete;

  // Relaxed: taking a reference needs no ordering, the holder already sees the object.
  void retain() const noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  /// True for the last reference: acq_rel so that the one who frees sees every other holder's
  /// writes (the shared_ptr argument).
  [[nodiscard]] bool release() const noexcept { return refs_.fetch_sub(1, std::memory_order_acq_rel) == 1; }
  /// A racy observer, for tests and the copy-on-write check of a value one thread owns.
  [[nodiscard]] std::uint32_t use_count() const noexcept { return refs_.load(std::memory_order_acquire); }

 protected:
  ~ref_counted() = default;

 private:
  mutable std::atomic<std::uint32_t> refs_{1};
};

/// An owning pointer to a ref_counted T that adopts the creator's reference.
template <class T>
class shared_ref {
 public:
  shared_ref() noexcept = default;
  /// Adopts the reference `p` holds (a fresh object's first one).
  static shared_ref adopt(T* p) noexcept { return shared_ref(p); }
  shared_ref(const shared_ref& o) noexcept : p_(o.p_) {
    if (p_ != nullptr) p_->retain();
  }
  shared_ref(shared_ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  shared_ref& operator=(shared_ref o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~shared_ref() {
    if (p_ != nullptr && p_->release()) delete p_;
  }
  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  explicit shared_ref(T* p) noexcept : p_(p) {}
  T* p_ = nullptr;
};

/// The rarely set metadata, shared by copies until one of them changes it.
struct event_extras final : ref_counted {
  std::string message_id;
  std::optional<std::string> key;
};

}  // namespace detail

/// Where events come from: one per source instance, shared by all its events. Immutable.
struct event_origin final : detail::ref_counted {
  event_origin(std::string stage_name, std::string path_name)
      : stage(std::move(stage_name)), path(std::move(path_name)) {}
  const std::string stage;  ///< the source stage's name in the pipeline
  const std::string path;   ///< the file it reads ("-" for stdin), or a stream / subject; may be empty
};

using origin_ref = detail::shared_ref<const event_origin>;

/// A new origin, for a source instance to attach to each event it emits.
inline origin_ref make_origin(std::string stage, std::string path) {
  return origin_ref::adopt(new event_origin(std::move(stage), std::move(path)));
}

/// How a message ended, for its source.
enum class ack_outcome : std::uint8_t {
  acked,   ///< every event derived from it was handled
  nacked,  ///< at least one was not: redeliver
};

/// A source's handle on one message (or one batch of them): told once when all holders ended.
/// Implemented by sources; see the file comment for the holder contract.
class acknowledgement {
 public:
  virtual ~acknowledgement() = default;

 protected:
  acknowledgement() = default;
  /// Called exactly once, by the thread that ends the last holder; must not throw. The object is
  /// not touched by sluice afterwards: `settle` may delete it (or return it to a pool).
  virtual void settle(ack_outcome outcome) noexcept = 0;

 private:
  friend class ack_ref;
  void end_holder(bool ok) noexcept {
    // Relaxed: the acq_rel decrement below publishes the flag to whoever settles.
    if (!ok) failed_.store(true, std::memory_order_relaxed);
    if (holders_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      settle(failed_.load(std::memory_order_relaxed) ? ack_outcome::nacked : ack_outcome::acked);
  }
  std::atomic<std::uint32_t> holders_{0};
  std::atomic<bool> failed_{false};
};

/// One holder of an acknowledgement (or none). Copying makes another holder; destroying one that
/// was not `done()` fails the acknowledgement. Moves transfer the holder.
class ack_ref {
 public:
  ack_ref() noexcept = default;
  /// The first holder of `a` (which has none yet); null for an event nobody acknowledges.
  explicit ack_ref(acknowledgement* a) noexcept : a_(a) { hold(); }
  ack_ref(const ack_ref& o) noexcept : a_(o.a_) { hold(); }
  ack_ref(ack_ref&& o) noexcept : a_(std::exchange(o.a_, nullptr)) {}
  ack_ref& operator=(ack_ref o) noexcept {
    std::swap(a_, o.a_);
    return *this;
  }
  ~ack_ref() { fail(); }

  /// This holder was handled. Leaves the ref empty.
  void done() noexcept { end(true); }
  /// This holder was not handled (the source will redeliver). Leaves the ref empty.
  void fail() noexcept { end(false); }

  acknowledgement* get() const noexcept { return a_; }
  explicit operator bool() const noexcept { return a_ != nullptr; }

 private:
  void hold() noexcept {
    // Relaxed: a new holder is made from an existing one (or by the source before sharing).
    if (a_ != nullptr) a_->holders_.fetch_add(1, std::memory_order_relaxed);
  }
  void end(bool ok) noexcept {
    if (a_ != nullptr) std::exchange(a_, nullptr)->end_holder(ok);
  }
  acknowledgement* a_ = nullptr;
};

/// One holder standing for several: when it ends, each of `members` ends the same way (done when
/// it was done, failed otherwise). What a stage that merges events into one (a batch) attaches to
/// the merged event. Null when no member holds anything; the member itself when only one does.
ack_ref combine_acks(std::vector<ack_ref> members);

}  // namespace sluice::pipeline
