// The `nats` sink: each event, as compact JSON, published to a subject; through JetStream with
// every publish confirmed before the batch counts as done, or on core NATS (at most once).
#include <mutex>
#include <optional>
#include <string>

#include <sluice/pipeline/event_parser.hpp>

#include "stages/nats_connection.hpp"
#include "stages/nats_stages.hpp"

namespace sluice::stages {

namespace {

constexpr std::int64_t default_timeout_ms = 10000;

struct js_deleter {
  void operator()(jsCtx* js) const noexcept { jsCtx_Destroy(js); }
};
using js_ptr = std::unique_ptr<jsCtx, js_deleter>;

/// The first publish JetStream refused, as libnats reports it on its own thread; read by the stage
/// after js_PublishAsyncComplete, which returns only once every handler call has returned.
class publish_failures {
 public:
  static void on_error(jsCtx*, jsPubAckErr* e, void* self) { static_cast<publish_failures*>(self)->record(*e); }

  /// The first failure since the last take, if any.
  std::optional<std::string> take() {
    std::lock_guard lock(mutex_);
    std::optional<std::string> first = std::move(first_);
    first_.reset();
    return first;
  }

 private:
  void record(const jsPubAckErr& e) {
    const char* subject = e.Msg != nullptr ? natsMsg_GetSubject(e.Msg) : nullptr;
    const std::string s = subject != nullptr ? subject : "?";
    std::string why = e.Err == NATS_NO_RESPONDERS
                          ? "no stream covers subject \"" + s + "\" (the server answered: no responders)"
                          : "the server refused the publish to subject \"" + s + "\": " +
                                (e.ErrText != nullptr ? e.ErrText : natsStatus_GetText(e.Err)) +
                                (e.ErrCode != 0 ? " (JetStream error " + std::to_string(e.ErrCode) + ")" : "");
    std::lock_guard lock(mutex_);
    if (!first_) first_ = std::move(why);
  }

  std::mutex mutex_;
  std::optional<std::string> first_;
};

/// Runs on a thread of its own: publishing and waiting for confirmations block.
class nats_sink final : public consumer<event> {
 public:
  nats_sink(const json& o, const stage_instance& instance)
      : settings_(nats_settings_from(o, instance.name)),
        subject_(string_option(o, "subject", "")),
        jetstream_(o.value("jetstream", false)),
        timeout_ms_(int_option(o, "timeout_ms", default_timeout_ms)) {
    if (o.contains("subject_from") && !o["subject_from"].is_null()) pointer_ = o["subject_from"].get<std::string>();
  }

  void init(stage_context<no_events>& ctx) override {
    auto c = nats_connect(settings_);
    if (!c.connection) return ctx.stop(exit_reason::error(c.error));
    connection_ = std::move(c.connection);
    if (!jetstream_) return;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.ErrHandler = &publish_failures::on_error;
    jo.PublishAsync.ErrHandlerClosure = &failures_;
    jsCtx* js = nullptr;
    const natsStatus st = natsConnection_JetStream(&js, connection_.get(), &jo);
    js_.reset(js);
    if (st != NATS_OK) ctx.stop(exit_reason::error(settings_.url + ": JetStream: " + nats_error_text(st)));
  }

  void terminate(const exit_reason&, stage_context<no_events>&) override {
    js_.reset();
    connection_.reset();
    nats_ReleaseThreadMemory();
  }

  /// Published and confirmed (flushed to the server, or acknowledged by JetStream): the events'
  /// holders are done. Otherwise they fail with the batch, and their sources redeliver.
  void handle_events(std::span<event> events, subscription_ref, stage_context<no_events>& ctx) override {
    for (const event& e : events) {
      std::string problem;
      const std::string* subject = subject_of(e, problem);
      if (subject == nullptr) return ctx.stop(exit_reason::error(problem));
      payload_.clear();
      e.append_json(payload_);
      const natsStatus st = publish(*subject);
      if (st != NATS_OK) {
        return ctx.stop(exit_reason::error(settings_.url + ": publish to subject \"" + *subject + "\" failed: " + nats_error_text(st)));
      }
    }
    if (auto failure = jetstream_ ? confirm() : flush()) return ctx.stop(exit_reason::error(*failure));
    for (event& e : events) e.ack().done();
  }

 private:
  natsStatus publish(const std::string& subject) {
    const int size = static_cast<int>(payload_.size());
    if (jetstream_) return js_PublishAsync(js_.get(), subject.c_str(), payload_.data(), size, nullptr);
    return natsConnection_Publish(connection_.get(), subject.c_str(), payload_.data(), size);
  }

  /// The subject of `e`: the string at subject_from, else `subject`; null (and why) if neither.
  const std::string* subject_of(const event& e, std::string& problem) {
    if (!pointer_) return &subject_;
    const std::optional<std::string> at = parser_.key_of(e, *pointer_);
    if (at && at->front() == '"') {
      const event value = event::from_text_unchecked(*at);
      if (auto s = parser_.string_value(value); s && !s->empty()) return &subject_from_.assign(*s);
    }
    if (!subject_.empty()) return &subject_;
    problem = "subject_from " + *pointer_ + ": the event has " + (at ? "a " + std::string(json_type_name(*at)) + " there" : std::string("nothing there")) +
              ", expected a non-empty string (or set `subject` as the fallback)";
    return nullptr;
  }

  /// The JSON type of a value's compact text, as nlohmann names it.
  static const char* json_type_name(std::string_view text) {
    switch (text.front()) {
      case '"': return "string";
      case '{': return "object";
      case '[': return "array";
      case 't':
      case 'f': return "boolean";
      case 'n': return "null";
      default: return "number";
    }
  }

  /// Core NATS: one round trip, so the server has the batch (or the connection is down and it
  /// waits in libnats's bounded reconnect buffer: at most once either way).
  std::optional<std::string> flush() {
    const natsStatus st = natsConnection_FlushTimeout(connection_.get(), timeout_ms_);
    if (st == NATS_OK || st == NATS_CONNECTION_DISCONNECTED) return std::nullopt;
    return settings_.url + ": the server did not confirm the batch within timeout_ms (" + std::to_string(timeout_ms_) +
           " ms): " + nats_error_text(st);
  }

  /// JetStream: waits for every publish of the batch to be acknowledged, at most timeout_ms.
  std::optional<std::string> confirm() {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = timeout_ms_;
    const natsStatus st = js_PublishAsyncComplete(js_.get(), &po);
    if (auto refused = failures_.take()) return settings_.url + ": " + *refused;
    if (st == NATS_OK) return std::nullopt;
    natsMsgList pending{};
    int unconfirmed = 0;
    if (js_PublishAsyncGetPendingList(&pending, js_.get()) == NATS_OK) {
      unconfirmed = pending.Count;
      natsMsgList_Destroy(&pending);
    }
    return settings_.url + ": " + std::to_string(unconfirmed) + " JetStream publishes not acknowledged within timeout_ms (" +
           std::to_string(timeout_ms_) + " ms): " + nats_error_text(st);
  }

  nats_settings settings_;
  std::string subject_;
  std::optional<std::string> pointer_;  // subject_from
  std::string subject_from_;             // the subject found there, for the event at hand
  pipeline::event_parser parser_;
  bool jetstream_;
  std::int64_t timeout_ms_;
  publish_failures failures_;
  nats_connection_ptr connection_;  // destroyed after js_ (declared before it)
  js_ptr js_;
  std::string payload_;
};

pid start_nats_sink(pipeline::spawner& where, const json& o, stage_instance instance) {
  instance.engine.spawn.dedicated_thread = true;
  auto s = std::make_unique<nats_sink>(o, instance);
  return start(where, std::move(s), engine_options<nats_sink>(std::move(instance.engine)));
}

std::vector<option_spec> sink_options() {
  std::vector<option_spec> o;
  auto subject = opt("subject", option_type::string, "the subject to publish to (with subject_from: for events without one)");
  subject.min_length = 1;
  o.push_back(subject);
  auto from = opt("subject_from", option_type::string, "a JSON pointer (\"/topic\"): the event's string there is its subject");
  o.push_back(from);
  o.push_back(opt("jetstream", option_type::boolean,
                  "publish through JetStream: each publish is acknowledged by the stream before the batch counts as done",
                  false, false));
  auto timeout = opt("timeout_ms", option_type::integer,
                     "how long a batch may wait for the server's confirmation (a server away longer fails the stage)",
                     false, default_timeout_ms);
  timeout.minimum = 1;
  timeout.maximum = 3600.0 * 1000;
  o.push_back(timeout);
  for (auto& c : nats_connection_options()) o.push_back(std::move(c));
  return o;
}

std::vector<pipeline::option_problem> check_sink(const json& o) {
  auto p = check_nats_connection(o);
  const bool subject = o.contains("subject") && !o["subject"].is_null();
  const bool from = o.contains("subject_from") && !o["subject_from"].is_null();
  if (!subject && !from) p.push_back({"subject", "neither subject nor subject_from is set", "a subject, or a JSON pointer in subject_from"});
  if (from && o["subject_from"].is_string()) {
    try {
      json::json_pointer ptr(o["subject_from"].get<std::string>());
    } catch (const json::exception& e) {
      p.push_back({"subject_from", "not a JSON pointer: " + std::string(e.what()), "a JSON pointer such as \"/topic\""});
    }
  }
  return p;
}

}  // namespace

pipeline::stage_type nats_sink_type() {
  auto t = describe("nats", stage_role::sink,
                    "Publishes each event (compact JSON) to a NATS subject: core NATS (at most once), or JetStream "
                    "(`jetstream: true`: every publish acknowledged by the stream before the batch counts as done).",
                    sink_options(), start_nats_sink);
  t.check = check_sink;
  return t;
}

}  // namespace sluice::stages
