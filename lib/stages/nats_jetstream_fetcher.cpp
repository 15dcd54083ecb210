// The fetch thread of a `nats_jetstream` source (see nats_jetstream_fetcher.hpp).
#include "stages/nats_jetstream_fetcher.hpp"

#include <algorithm>
#include <chrono>
#include <charconv>
#include <string_view>

#include "stages/nats_jetstream_ack.hpp"

namespace sluice::stages {

namespace {

/// How long the thread waits after a failed pull that may succeed later (no JetStream answer yet
/// after a server restart, MaxWaiting exceeded): not a poll, a pause before the next try.
constexpr auto error_pause = std::chrono::milliseconds(250);

/// The stream sequence and the delivery count from a message's ack subject:
/// `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`, or with
/// newer servers `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<stream seq>...`.
/// {0, 0} when the subject has neither form.
struct delivery {
  std::uint64_t stream_seq = 0;
  std::uint64_t delivered = 0;
};

std::uint64_t number(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

delivery delivery_of(const char* reply) {
  if (reply == nullptr) return {};
  std::string_view s(reply);
  std::string_view t[12];
  std::size_t n = 0;
  while (n < 12) {
    const auto dot = s.find('.');
    t[n++] = s.substr(0, dot);
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  if (n == 9) return {number(t[5]), number(t[4])};
  if (n >= 11) return {number(t[7]), number(t[6])};
  return {};
}

/// True when libnats's last error on this thread says the consumer is gone (409 Consumer Deleted).
bool consumer_deleted() {
  const char* last = nats_GetLastError(nullptr);
  return last != nullptr && std::string_view(last).find("Consumer Deleted") != std::string_view::npos;
}

}  // namespace

jetstream_fetcher::jetstream_fetcher(const jetstream_settings& s, const std::string& stage, std::shared_ptr<jetstream_link> link,
                                     std::shared_ptr<stage_counters> stats)
    : settings_(s),
      stage_(stage),
      link_(std::move(link)),
      stats_(std::move(stats)),
      origin_(pipeline::make_origin(stage, s.stream)),
      parser_(s.limits) {}

void jetstream_fetcher::start(runtime& rt, pid stage) {
  rt_ = &rt;
  stage_pid_ = stage;
  thread_ = std::thread([this] { run(); });
}

void jetstream_fetcher::add_credit(std::size_t n) {
  {
    std::lock_guard lock(mutex_);
    credit_ += n;
  }
  wake_.notify_one();
}

void jetstream_fetcher::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  // Ends a pull in progress at once (libnats wakes a waiting fetch on unsubscribe). The server
  // forgets the pull; what it had already sent for it is not acked and comes back after ack_wait.
  if (link_ && link_->pull != nullptr) natsSubscription_Unsubscribe(link_->pull);
  if (thread_.joinable()) thread_.join();
}

bool jetstream_fetcher::stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

std::size_t jetstream_fetcher::wait_for_credit() {
  std::unique_lock lock(mutex_);
  wake_.wait(lock, [&] { return stopping_ || credit_ > 0; });
  if (stopping_) return 0;
  return static_cast<std::size_t>(std::min<std::uint64_t>(credit_, settings_.max_batch));
}

void jetstream_fetcher::run() {
  for (;;) {
    const std::size_t n = wait_for_credit();
    if (n == 0) break;
    natsMsgList list{};
    const natsStatus st = pull(n, list);
    if (st == NATS_OK && list.Count > 0) {
      wait_next_ = false;
      last_error_ = NATS_OK;
      if (!deliver(list)) break;
    } else if (!after_empty_pull(st)) {
      break;
    }
  }
  nats_ReleaseThreadMemory();
}

natsStatus jetstream_fetcher::pull(std::size_t n, natsMsgList& list) {
  jsFetchRequest req;
  jsFetchRequest_Init(&req);
  req.Expires = settings_.pull_expires_ms * 1000000;  // the option's maximum keeps this in range
  // libnats 3.4 (Debian 12) writes past its message array when a fetch starts with messages
  // already pending on the subscription (a late answer to an earlier pull): it takes them, lowers
  // the request's batch by their count and then waits for the count to equal the lowered batch,
  // which it may already have passed (seen by ASan: our read of Msgs[226] of 226). A fetch of 1
  // cannot pass its batch, and fetches no more than it asked for: pending messages are taken
  // one per fetch, and a fetch that starts with none asks for n.
  int pending = 0;
  int pending_bytes = 0;
  if (natsSubscription_GetPending(link_->pull, &pending, &pending_bytes) != NATS_OK) pending = 0;
  req.Batch = wait_next_ || pending > 0 ? 1 : static_cast<int>(n);
  req.NoWait = !wait_next_;
  link_->counters->pulls.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  return natsSubscription_FetchRequest(&list, link_->pull, &req);
}

bool jetstream_fetcher::after_empty_pull(natsStatus st) {
  switch (st) {
    case NATS_OK:
    case NATS_TIMEOUT:  // the pull expired (its credit stays) or ended with nothing for it
      wait_next_ = false;
      return true;
    case NATS_NOT_FOUND:  // 404: nothing there at once; wait for the next message
      wait_next_ = !wait_next_;
      return true;
    case NATS_CONNECTION_CLOSED:
    case NATS_INVALID_SUBSCRIPTION:
      if (stopping()) return false;
      send({{}, settings_.connection.url + ": stream \"" + settings_.stream + "\": the connection closed for good (" +
                    nats_error_text(st) + ")"});
      return false;
    default:
      if (consumer_deleted()) {
        send({{}, settings_.connection.url + ": stream \"" + settings_.stream + "\": consumer \"" + settings_.durable +
                      "\" was deleted"});
        return false;
      }
      if (st != last_error_) rt_->log().warning("pull from consumer \"" + settings_.durable + "\" failed, retrying: " + nats_error_text(st), stage_);
      last_error_ = st;
      pause_after_error();
      return true;
  }
}

void jetstream_fetcher::pause_after_error() {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, error_pause, [&] { return stopping_; });
}

bool jetstream_fetcher::deliver(natsMsgList& list) {
  jetstream_batch batch;
  batch.events.reserve(static_cast<std::size_t>(list.Count));
  const std::int64_t now = now_ns();  // one clock read per batch
  for (int i = 0; i < list.Count; ++i) {
    if (!take(std::exchange(list.Msgs[i], nullptr), now, batch)) {
      natsMsgList_Destroy(&list);  // the rest were not handed on: never acked, redelivered after ack_wait
      send(std::move(batch));
      return false;
    }
  }
  natsMsgList_Destroy(&list);  // the messages themselves are owned by their acks now
  {
    std::lock_guard lock(mutex_);
    credit_ -= std::min<std::uint64_t>(credit_, batch.events.size());
  }
  if (!batch.events.empty()) send(std::move(batch));
  return true;
}

bool jetstream_fetcher::take(natsMsg* m, std::int64_t now, jetstream_batch& batch) {
  const delivery d = delivery_of(natsMsg_GetReply(m));
  auto& counters = *link_->counters;
  // Relaxed: statistics.
  counters.received.fetch_add(1, std::memory_order_relaxed);
  if (d.delivered > 1) {
    counters.redelivered.fetch_add(1, std::memory_order_relaxed);
    if (link_->stats) link_->stats->redelivered.fetch_add(1, std::memory_order_relaxed);
  }
  auto parsed = parser_.parse(std::string_view(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m))));
  if (!parsed) return reject(m, d.stream_seq, parsed.error().message, batch);
  pipeline::event& e = parsed.value();
  e.set_origin(origin_);
  e.set_position(d.stream_seq);
  e.set_time_ns(now);
  e.set_message_id(settings_.stream + ":" + std::to_string(d.stream_seq));
  e.set_ack(pipeline::ack_ref(new jetstream_ack(m, link_)));
  batch.events.push_back(std::move(e));
  return true;
}

bool jetstream_fetcher::reject(natsMsg* m, std::uint64_t seq, const std::string& problem, jetstream_batch& batch) {
  if (settings_.skip_errors) {
    natsMsg_Term(m, nullptr);  // never redelivered: skipping means it is dealt with
    natsMsg_Destroy(m);
    link_->counters->terminated.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
    if (stats_) stats_->skipped.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  batch.error = settings_.connection.url + ": stream \"" + settings_.stream + "\" sequence " + std::to_string(seq) +
                " (subject \"" + natsMsg_GetSubject(m) + "\"): " + problem +
                " (on_error fail: the message stays unacknowledged)";
  natsMsg_NakWithDelay(m, settings_.nak_delay_ms, nullptr);  // it stays in the stream
  natsMsg_Destroy(m);
  return false;
}

void jetstream_fetcher::send(jetstream_batch batch) {
  // A stage that is gone drops the batch: its events nack, the server redelivers.
  if (rt_->send(stage_pid_, std::move(batch)) == send_result::closed) {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
}

}  // namespace sluice::stages
