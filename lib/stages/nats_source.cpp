// The `nats` source: a core NATS subscription (at most once). Messages beyond demand wait in
// libnats's pending queue for the subscription, bounded by max_pending (messages and bytes);
// what arrives beyond that is dropped by libnats and counted in the stage's `dropped`.
#include <algorithm>
#include <string>
#include <vector>

#include <sluice/pipeline/event_parser.hpp>

#include "stages/builtin.hpp"
#include "stages/nats_connection.hpp"
#include "stages/nats_stages.hpp"

namespace sluice::stages {

namespace {

constexpr std::int64_t default_max_pending = 65536;
constexpr std::int64_t default_max_pending_bytes = std::int64_t{64} << 20;
constexpr std::int64_t default_max_depth = 512;
/// The largest message a NATS server can be configured to carry (max_payload): 64 MiB.
constexpr std::size_t max_message_bytes = std::size_t{64} << 20;
/// How long one wait for a message may block the stage's thread: its messages (a drain, a stop)
/// are handled between waits.
constexpr std::int64_t wait_ms = 100;

struct receive_more {};

struct msg_deleter {
  void operator()(natsMsg* m) const noexcept { natsMsg_Destroy(m); }
};
using msg_ptr = std::unique_ptr<natsMsg, msg_deleter>;

/// Runs on a thread of its own (waiting for a message blocks, at most wait_ms at a time).
class nats_source final : public producer<event> {
 public:
  nats_source(const json& o, const stage_instance& instance)
      : settings_(nats_settings_from(o, instance.name)),
        subject_(string_option(o, "subject", "")),
        queue_(string_option(o, "queue", "")),
        skip_errors_(string_option(o, "on_error", "fail") == "skip"),
        max_pending_(int_option(o, "max_pending", default_max_pending)),
        max_pending_bytes_(int_option(o, "max_pending_bytes", default_max_pending_bytes)),
        parser_(pipeline::parse_limits{static_cast<std::size_t>(int_option(o, "max_depth", default_max_depth)), max_message_bytes}),
        origin_(pipeline::make_origin(instance.name, subject_)),
        counters_(instance.stats) {}

  void init(stage_context<event>& ctx) override {
    auto c = nats_connect(settings_);
    if (!c.connection) return ctx.stop(exit_reason::error(c.error));
    connection_ = std::move(c.connection);
    natsSubscription* sub = nullptr;
    natsStatus st = queue_.empty() ? natsConnection_SubscribeSync(&sub, connection_.get(), subject_.c_str())
                                   : natsConnection_QueueSubscribeSync(&sub, connection_.get(), subject_.c_str(), queue_.c_str());
    subscription_.reset(sub);
    if (st == NATS_OK) {
      st = natsSubscription_SetPendingLimits(sub, static_cast<int>(max_pending_), static_cast<int>(max_pending_bytes_));
    }
    // The subscription is only known to be in place once the server answered a round trip.
    if (st == NATS_OK) st = natsConnection_FlushTimeout(connection_.get(), settings_.connect_timeout_ms);
    if (st != NATS_OK) ctx.stop(exit_reason::error(where() + "cannot subscribe: " + nats_error_text(st)));
  }

  void handle_demand(std::size_t demand, stage_context<event>& ctx) override {
    wanted_ += demand;
    receive(ctx);
  }
  void handle_info(message& m, stage_context<event>& ctx) override {
    if (m.is<receive_more>()) receive(ctx);
  }
  void terminate(const exit_reason&, stage_context<event>&) override {
    // At most once: what libnats holds for us and nobody asked for is let go with the subscription.
    if (subscription_) natsSubscription_Unsubscribe(subscription_.get());
    subscription_.reset();
    connection_.reset();
    nats_ReleaseThreadMemory();
  }

 private:
  /// Takes up to the demand: what is pending at once, else waits up to wait_ms for one message.
  void receive(stage_context<event>& ctx) {
    if (!subscription_ || wanted_ == 0) return;
    std::vector<event> batch;
    while (wanted_ > 0) {
      if (!batch.empty() && nothing_pending()) break;
      natsMsg* raw = nullptr;
      const natsStatus st = natsSubscription_NextMsg(&raw, subscription_.get(), wait_ms);
      msg_ptr m(raw);
      if (st == NATS_TIMEOUT) break;
      if (st == NATS_SLOW_CONSUMER) continue;  // messages were dropped: counted below
      if (st != NATS_OK) return finish(ctx, batch, exit_reason::error(where() + "receive failed: " + nats_error_text(st)));
      std::string problem = take(*m, batch);
      if (problem.empty()) continue;
      if (!skip_errors_) return finish(ctx, batch, exit_reason::error(where() + problem));
      if (counters_) counters_->skipped.fetch_add(1, std::memory_order_relaxed);
    }
    count_dropped();
    ctx.emit(std::move(batch));
    if (wanted_ > 0) ctx.process().send(ctx.self(), receive_more{});
  }

  bool nothing_pending() {
    int msgs = 0;
    int bytes = 0;
    return natsSubscription_GetPending(subscription_.get(), &msgs, &bytes) != NATS_OK || msgs == 0;
  }

  /// Parses `m` onto `batch`; what is wrong with it otherwise.
  std::string take(natsMsg& m, std::vector<event>& batch) {
    const std::string_view data(natsMsg_GetData(&m), static_cast<std::size_t>(natsMsg_GetDataLength(&m)));
    pipeline::parse_result parsed = parser_.parse(data);
    if (!parsed) return "a message " + parsed.error().message;
    event& e = batch.emplace_back(std::move(parsed.value()));
    e.set_origin(origin_);
    e.set_position(++received_);
    e.set_time_ns(now_ns());
    --wanted_;
    return {};
  }

  /// Adds what libnats dropped since the last look to the stage's `dropped`.
  void count_dropped() {
    std::int64_t dropped = 0;
    if (!counters_ || natsSubscription_GetDropped(subscription_.get(), &dropped) != NATS_OK) return;
    if (dropped > dropped_seen_) counters_->dropped.fetch_add(static_cast<std::uint64_t>(dropped - dropped_seen_), std::memory_order_relaxed);
    dropped_seen_ = std::max(dropped_seen_, dropped);
  }

  void finish(stage_context<event>& ctx, std::vector<event>& batch, exit_reason reason) {
    count_dropped();
    ctx.emit(std::move(batch));
    subscription_.reset();
    ctx.stop_after_dispatch(std::move(reason));
  }

  std::string where() const { return settings_.url + ": subject \"" + subject_ + "\": "; }

  nats_settings settings_;
  std::string subject_;
  std::string queue_;
  bool skip_errors_;
  std::int64_t max_pending_;
  std::int64_t max_pending_bytes_;
  pipeline::event_parser parser_;
  pipeline::origin_ref origin_;
  std::shared_ptr<stage_counters> counters_;
  nats_connection_ptr connection_;  // destroyed after subscription_ (declared before it)
  nats_subscription_ptr subscription_;
  std::uint64_t wanted_ = 0;
  std::uint64_t received_ = 0;  // messages taken: each one's position
  std::int64_t dropped_seen_ = 0;
};

pid start_nats_source(pipeline::spawner& where, const json& o, stage_instance instance) {
  instance.engine.spawn.dedicated_thread = true;  // waiting for messages blocks
  auto s = std::make_unique<nats_source>(o, instance);
  return start(where, std::move(s), std::move(instance.engine));
}

std::vector<option_spec> source_options() {
  std::vector<option_spec> o;
  auto subject = opt("subject", option_type::string, "the subject to subscribe to (wildcards * and > allowed)", true);
  subject.min_length = 1;
  o.push_back(subject);
  auto queue = opt("queue", option_type::string, "a queue group: each message goes to one member of the group");
  queue.min_length = 1;
  o.push_back(queue);
  auto on_error = opt("on_error", option_type::string,
                      "a message that is not JSON (or not UTF-8, or too deep): fail the stage naming the subject "
                      "(the messages before it are delivered), or skip it (counted in `skipped`)",
                      false, "fail");
  on_error.one_of = {"fail", "skip"};
  o.push_back(on_error);
  auto pending = opt("max_pending", option_type::integer,
                     "messages held for the stage beyond its demand; more are dropped (counted in `dropped`)", false,
                     default_max_pending);
  pending.minimum = 1;
  pending.maximum = 1e8;
  o.push_back(pending);
  auto bytes = opt("max_pending_bytes", option_type::integer, "bytes held beyond demand; more are dropped (counted)", false,
                   default_max_pending_bytes);
  bytes.minimum = 1;
  bytes.maximum = 2147483647.0;
  o.push_back(bytes);
  auto depth = opt("max_depth", option_type::integer, "the deepest nesting of arrays and objects a message may have", false,
                   default_max_depth);
  depth.minimum = 1;
  depth.maximum = 1000;
  o.push_back(depth);
  for (auto& c : nats_connection_options()) o.push_back(std::move(c));
  return o;
}

}  // namespace

pipeline::stage_type nats_source_type() {
  auto t = describe("nats", stage_role::source,
                    "Subscribes to a NATS subject (core NATS, at most once) and emits each message parsed as JSON; "
                    "endless (a drain ends it).",
                    source_options(), start_nats_source);
  t.check = check_nats_connection;
  return t;
}

}  // namespace sluice::stages
