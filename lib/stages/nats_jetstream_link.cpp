// The server side of a `nats_jetstream` source: connecting, checking or creating the stream and the
// durable consumer, subscribing, counting MAX_DELIVERIES advisories.
#include "stages/nats_jetstream_link.hpp"

#include <cstdint>
#include <string_view>

namespace sluice::stages {

namespace {

/// Whole tokens of a subject.
std::vector<std::string_view> tokens_of(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t from = 0;
  for (;;) {
    const auto dot = s.find('.', from);
    out.push_back(s.substr(from, dot == std::string_view::npos ? std::string_view::npos : dot - from));
    if (dot == std::string_view::npos) return out;
    from = dot + 1;
  }
}

/// What the advisory callback needs, kept alive by libnats until the subscription is complete.
struct advisory_closure {
  std::shared_ptr<jetstream_counters> counters;
  std::shared_ptr<stage_counters> stats;
};

void on_advisory(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
  auto* c = static_cast<advisory_closure*>(closure);
  // Relaxed: counters are statistics.
  c->counters->max_deliveries.fetch_add(1, std::memory_order_relaxed);
  if (c->stats) c->stats->dropped.fetch_add(1, std::memory_order_relaxed);
  natsMsg_Destroy(m);
}

void on_advisory_complete(void* closure) { delete static_cast<advisory_closure*>(closure); }

/// Builds the link step by step; each step returns "" or the problem.
class opener {
 public:
  opener(const jetstream_settings& s, const std::string& stage) : s_(s), stage_(stage) {}

  jetstream_open_result run(std::shared_ptr<jetstream_counters> counters, std::shared_ptr<stage_counters> stats) {
    r_.link = std::make_shared<jetstream_link>();
    r_.link->nak_delay_ms = s_.nak_delay_ms;
    r_.link->flush_timeout_ms = s_.connection.connect_timeout_ms;
    r_.link->counters = std::move(counters);
    r_.link->stats = stats;
    std::string problem = connect();
    if (problem.empty()) problem = stream();
    if (problem.empty()) problem = consumer();
    if (problem.empty()) problem = subscribe(std::move(stats));
    if (!problem.empty()) {
      r_.error = "stage \"" + stage_ + "\": " + problem;
      r_.link.reset();
    }
    return std::move(r_);
  }

 private:
  std::string connect() {
    auto c = nats_connect(s_.connection);
    if (!c.connection) return c.error;
    r_.link->connection = std::move(c.connection);
    const natsStatus st = natsConnection_JetStream(&r_.link->js, r_.link->connection.get(), nullptr);
    return st == NATS_OK ? "" : s_.connection.url + ": no JetStream context: " + nats_error_text(st);
  }

  std::string stream() {
    jsStreamInfo* info = nullptr;
    jsErrCode code{};
    natsStatus st = js_GetStreamInfo(&info, r_.link->js, s_.stream.c_str(), nullptr, &code);
    if (st == NATS_OK) {
      std::string problem = covered(*info);
      jsStreamInfo_Destroy(info);
      return problem;
    }
    if (code != JSStreamNotFoundErr) return where() + "cannot read the stream: " + js_error(st, code);
    if (!s_.create) return where() + "the stream does not exist (create it, or set \"create\": true)";
    if (s_.subject.empty()) return where() + "the stream does not exist, and creating it needs \"subject\" (its subjects)";
    return create_stream();
  }

  std::string create_stream() {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = s_.stream.c_str();
    const char* subjects[] = {s_.subject.c_str()};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    jsStreamInfo* info = nullptr;
    jsErrCode code{};
    const natsStatus st = js_AddStream(&info, r_.link->js, &cfg, nullptr, &code);
    jsStreamInfo_Destroy(info);
    // Another instance may have created it in the meantime: that is as good.
    if (st != NATS_OK && code != JSStreamNameExistErr) return where() + "cannot create the stream: " + js_error(st, code);
    if (st == NATS_OK) r_.created.push_back("created stream \"" + s_.stream + "\" (file storage) over subject \"" + s_.subject + "\"");
    return {};
  }

  /// The filter subject must lie inside one of the stream's subjects.
  std::string covered(const jsStreamInfo& info) const {
    if (s_.subject.empty() || info.Config == nullptr) return {};
    std::string listed;
    for (int i = 0; i < info.Config->SubjectsLen; ++i) {
      if (subject_covers(info.Config->Subjects[i], s_.subject)) return {};
      listed += (listed.empty() ? "\"" : ", \"") + std::string(info.Config->Subjects[i]) + "\"";
    }
    return where() + "subject \"" + s_.subject + "\" is not covered by the stream, whose subjects are " +
           (listed.empty() ? std::string("none") : listed) + " (expected a subject inside one of them)";
  }

  std::string consumer() {
    jsConsumerInfo* info = nullptr;
    jsErrCode code{};
    const natsStatus st = js_GetConsumerInfo(&info, r_.link->js, s_.stream.c_str(), s_.durable.c_str(), nullptr, &code);
    if (st == NATS_OK) {
      std::string problem = usable(*info);
      jsConsumerInfo_Destroy(info);
      return problem;
    }
    if (code != JSConsumerNotFoundErr) return where() + "cannot read consumer \"" + s_.durable + "\": " + js_error(st, code);
    if (!s_.create) return where() + "consumer \"" + s_.durable + "\" does not exist (create it, or set \"create\": true)";
    return create_consumer();
  }

  std::string create_consumer() {
    jsConsumerConfig cfg;
    jsConsumerConfig_Init(&cfg);
    cfg.Durable = s_.durable.c_str();
    cfg.AckPolicy = js_AckExplicit;  // AckAll loses messages with several instances
    cfg.AckWait = saturated_ns(s_.ack_wait_ms);
    cfg.MaxDeliver = s_.max_deliver;
    cfg.MaxAckPending = s_.max_ack_pending;
    if (!s_.subject.empty()) cfg.FilterSubject = s_.subject.c_str();
    jsConsumerInfo* info = nullptr;
    jsErrCode code{};
    const natsStatus st = js_AddConsumer(&info, r_.link->js, s_.stream.c_str(), &cfg, nullptr, &code);
    jsConsumerInfo_Destroy(info);
    if (st != NATS_OK) {
      // Another instance may have created the same consumer meanwhile.
      jsConsumerInfo* again = nullptr;
      if (js_GetConsumerInfo(&again, r_.link->js, s_.stream.c_str(), s_.durable.c_str(), nullptr, nullptr) == NATS_OK) {
        std::string problem = usable(*again);
        jsConsumerInfo_Destroy(again);
        return problem;
      }
      return where() + "cannot create consumer \"" + s_.durable + "\": " + js_error(st, code);
    }
    r_.created.push_back("created durable pull consumer \"" + s_.durable + "\" on stream \"" + s_.stream +
                         "\" (explicit acks, ack_wait " + std::to_string(s_.ack_wait_ms) + " ms, max_deliver " +
                         std::to_string(s_.max_deliver) + ", max_ack_pending " + std::to_string(s_.max_ack_pending) +
                         (s_.subject.empty() ? std::string() : ", filter \"" + s_.subject + "\"") + ")");
    return {};
  }

  /// An existing consumer must be a pull consumer with explicit acks and the asked filter.
  std::string usable(const jsConsumerInfo& info) const {
    const std::string name = "consumer \"" + s_.durable + "\" ";
    if (info.Config == nullptr) return {};
    const jsConsumerConfig& c = *info.Config;
    if (c.DeliverSubject != nullptr && *c.DeliverSubject != '\0') return where() + name + "is a push consumer (expected a pull consumer)";
    if (c.AckPolicy != js_AckExplicit) {
      return where() + name + "does not use explicit acks (expected AckExplicit: AckAll loses messages with several instances)";
    }
    const std::string filter = c.FilterSubject != nullptr ? c.FilterSubject : "";
    if (!s_.subject.empty() && filter != s_.subject) {
      return where() + name + "filters subject \"" + filter + "\", not \"" + s_.subject + "\" (expected the same filter)";
    }
    return {};
  }

  std::string subscribe(std::shared_ptr<stage_counters> stats) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = s_.stream.c_str();
    so.Consumer = s_.durable.c_str();
    so.ManualAck = true;
    jsErrCode code{};
    natsStatus st = js_PullSubscribe(&r_.link->pull, r_.link->js, s_.subject.empty() ? nullptr : s_.subject.c_str(),
                                     s_.durable.c_str(), nullptr, &so, &code);
    if (st != NATS_OK) return where() + "cannot subscribe to consumer \"" + s_.durable + "\": " + js_error(st, code);
    const std::string advisory = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + s_.stream + "." + s_.durable;
    auto* closure = new advisory_closure{r_.link->counters, std::move(stats)};
    st = natsConnection_Subscribe(&r_.link->advisories, r_.link->connection.get(), advisory.c_str(), on_advisory, closure);
    if (st == NATS_OK) st = natsSubscription_SetOnCompleteCB(r_.link->advisories, on_advisory_complete, closure);
    if (st != NATS_OK) {
      if (r_.link->advisories == nullptr) delete closure;
      return where() + "cannot subscribe to " + advisory + ": " + nats_error_text(st);
    }
    return {};
  }

  static std::int64_t saturated_ns(std::int64_t ms) {
    std::int64_t ns = 0;
    return __builtin_mul_overflow(ms, std::int64_t{1000000}, &ns) ? INT64_MAX : ns;
  }

  static std::string js_error(natsStatus st, jsErrCode code) {
    std::string text = nats_error_text(st);
    if (code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
    return text;
  }

  std::string where() const { return s_.connection.url + ": stream \"" + s_.stream + "\": "; }

  const jetstream_settings& s_;
  const std::string& stage_;
  jetstream_open_result r_;
};

}  // namespace

jetstream_link::~jetstream_link() {
  // Acks are buffered by libnats: a round trip proves the server has them (else they would be
  // redelivered after ack_wait: duplicates, not loss).
  if (connection) natsConnection_FlushTimeout(connection.get(), flush_timeout_ms);
  if (advisories != nullptr) {
    natsSubscription_Unsubscribe(advisories);
    natsSubscription_Destroy(advisories);
  }
  // Destroy alone: the consumer was bound, not created by the subscription, so it stays.
  natsSubscription_Destroy(pull);
  jsCtx_Destroy(js);
  connection.reset();
}

jetstream_open_result open_jetstream(const jetstream_settings& s, const std::string& stage,
                                     std::shared_ptr<jetstream_counters> counters, std::shared_ptr<stage_counters> stats) {
  return opener(s, stage).run(std::move(counters), std::move(stats));
}

bool subject_covers(std::string_view pattern, std::string_view filter) {
  const auto p = tokens_of(pattern);
  const auto f = tokens_of(filter);
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == ">") return f.size() > i;  // the rest, at least one token
    if (i >= f.size()) return false;
    if (p[i] == "*") {
      if (f[i] == ">") return false;  // `*` covers one token, `>` may be several
      continue;
    }
    if (p[i] != f[i]) return false;  // a literal covers only itself (not `*` or `>`)
  }
  return p.size() == f.size();
}

}  // namespace sluice::stages
