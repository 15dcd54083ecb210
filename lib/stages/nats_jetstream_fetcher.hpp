// lib/stages/nats_jetstream_fetcher.hpp: the thread that pulls from a durable consumer for one
// `nats_jetstream` source instance.
//
// Why a thread: libnats's fetch blocks until its batch is full or its pull expires. The stage's
// process must keep answering (demand, drain, stop), so it never calls libnats after start.
//
// Credit: the stage adds its demand (`add_credit`, from the stage's thread). The thread waits on a
// condition while the credit is 0 (no polling), else sends one pull for min(credit, max_batch):
// `no_wait` with `expires` (the server answers at once with what it has, or, with nothing there,
// holds the pull until a message arrives or `pull_expires_ms` pass; a server that answers an empty
// `no_wait` with 404 at once gets a waiting pull for 1 next, so an idle stream costs one request
// per expiry, never a loop). Each message that becomes an event takes one credit; what a pull did
// not deliver (it expired, or the stream had less) simply stays credit for the next pull.
//
// Hand-over: each non-empty batch goes to the stage as one `jetstream_batch` message. The events in
// flight between the thread and the stage are bounded by the credit, that is by downstream demand:
// the stage's mailbox is the bounded queue. A batch the stage no longer takes (it has stopped) is
// destroyed, and its events nack their messages: the server redelivers them.
//
// Parsing happens here, once per message (event_parser, owned by this thread), so the stage only
// emits. A message that is not JSON is terminated (`+TERM`, never redelivered, counted) with
// on_error skip; with on_error fail it is nacked and the batch carries the error: the stage
// delivers the events before it, then fails.
#pragma once

#include <nats/nats.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sluice/pipeline/event.hpp>
#include <sluice/pipeline/event_parser.hpp>
#include <sluice/process/runtime.hpp>

#include "stages/nats_jetstream.hpp"
#include "stages/nats_jetstream_link.hpp"

namespace sluice::stages {

/// What the fetch thread hands its stage.
struct jetstream_batch {
  std::vector<pipeline::event> events;
  /// Set when the thread has stopped for good: the stage fails with it after emitting `events`.
  std::string error;
};

class jetstream_fetcher {
 public:
  jetstream_fetcher(const jetstream_settings& s, const std::string& stage, std::shared_ptr<jetstream_link> link,
                    std::shared_ptr<stage_counters> stats);
  jetstream_fetcher(const jetstream_fetcher&) = delete;
  jetstream_fetcher& operator=(const jetstream_fetcher&) = delete;
  /// Stops and joins the thread.
  ~jetstream_fetcher() { stop(); }

  /// Starts the thread; batches go to `stage` on `rt` (which must outlive this object).
  void start(runtime& rt, pid stage);
  /// More demand (the stage's thread).
  void add_credit(std::size_t n);
  /// Ends a pull in progress and joins the thread. Idempotent.
  void stop() noexcept;

 private:
  void run();
  /// Blocks until there is credit or the fetcher stops; 0 then.
  std::size_t wait_for_credit();
  natsStatus pull(std::size_t n, natsMsgList& list);
  /// Turns fetched messages into events and sends them; false once the thread must end.
  bool deliver(natsMsgList& list);
  /// Parses `m` onto `batch` (or terminates it, with on_error skip); false when it fails the
  /// stage (batch.error is then set).
  bool take(natsMsg* m, std::int64_t now, jetstream_batch& batch);
  bool reject(natsMsg* m, std::uint64_t seq, const std::string& problem, jetstream_batch& batch);
  /// Handles a pull that brought nothing; false once the thread must end.
  bool after_empty_pull(natsStatus st);
  void pause_after_error();
  bool stopping();
  void send(jetstream_batch batch);

  const jetstream_settings& settings_;  // owned by the stage, which owns this
  std::string stage_;
  std::shared_ptr<jetstream_link> link_;
  std::shared_ptr<stage_counters> stats_;
  pipeline::origin_ref origin_;
  pipeline::event_parser parser_;
  runtime* rt_ = nullptr;
  pid stage_pid_{};
  bool wait_next_ = false;    // the last no_wait pull found nothing at once (a 404)
  natsStatus last_error_ = NATS_OK;  // the last transient failure, logged once per streak

  std::mutex mutex_;
  std::condition_variable wake_;
  std::uint64_t credit_ = 0;  // guarded by mutex_
  bool stopping_ = false;     // guarded by mutex_
  std::thread thread_;
};

}  // namespace sluice::stages
