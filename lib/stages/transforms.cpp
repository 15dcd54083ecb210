// Built-in transforms: jq, batch, rate_limit.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <deque>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sluice/pipeline/dead_letter.hpp>
#include <sluice/stages/jq_program.hpp>

#include "stages/builtin.hpp"
#include "stages/rate_pacer.hpp"

namespace sluice::stages {

namespace {

using namespace std::chrono_literals;

struct flush_due {
  std::uint64_t batch;
};

/// The longest `timeout_ms` of `batch`: a week. Far beyond any sensible batching delay, and far
/// below where milliseconds overflow the timer's nanoseconds (about 292 years).
/// The largest `size` of `batch`: ten million events in one array is already a lot of memory.
constexpr std::int64_t max_batch_size = 10'000'000;

constexpr std::int64_t max_batch_timeout_ms = 7LL * 24 * 60 * 60 * 1000;

/// `batch`: collects events into arrays of `size`; a partial batch goes out after `timeout_ms`
/// (from its first event) and when the input ends (its last producer has ended: with several
/// producers, one ending is not the end of the input).
class batch_stage final : public producer_consumer<event, event> {
 public:
  batch_stage(const json& o, const stage_instance&)
      : size_(static_cast<std::size_t>(int_option(o, "size", 100))),
        timeout_(std::chrono::milliseconds(std::clamp<std::int64_t>(int_option(o, "timeout_ms", 0), 0, max_batch_timeout_ms))) {}

  demand_kind handle_subscribe(peer_kind peer, const subscription_options&, subscription_ref from,
                               stage_context<event>&) override {
    if (peer == peer_kind::producer) producers_.push_back(from);
    return demand_kind::automatic;
  }
  void handle_events(std::span<event> events, subscription_ref, stage_context<event>& ctx) override {
    for (event& e : events) {
      if (current_.empty() && timeout_.count() > 0) {
        ctx.process().send_after(ctx.self(), flush_due{batch_no_}, timeout_);
      }
      current_.push_back(std::move(e));
      if (current_.size() == size_) flush(ctx);
    }
  }
  void handle_info(message& m, stage_context<event>& ctx) override {
    if (auto* f = m.get_if<flush_due>(); f != nullptr && f->batch == batch_no_ && !current_.empty()) flush(ctx);
  }
  void handle_cancel(cancel_kind, const exit_reason&, subscription_ref from, stage_context<event>& ctx) override {
    // A consumer's cancel, or one producer of several ending, is not the end of the input.
    if (std::erase(producers_, from) == 0 || !producers_.empty()) return;
    if (!current_.empty()) flush(ctx);  // the input ended: what is collected goes out
  }

 private:
  /// The array goes out as one event holding its members' acknowledgements.
  void flush(stage_context<event>& ctx) {
    std::string text = "[";
    std::vector<pipeline::ack_ref> acks;
    for (event& e : current_) {
      if (text.size() > 1) text += ',';
      e.append_json(text);
      if (e.ack()) acks.push_back(std::move(e.ack()));
    }
    text += ']';
    event merged = event::from_text_unchecked(text);
    merged.set_metadata_from(current_.front());  // the first member's origin and time
    merged.set_ack(pipeline::combine_acks(std::move(acks)));
    current_.clear();
    ctx.emit(std::move(merged));
    ++batch_no_;
  }
  std::size_t size_;
  std::chrono::milliseconds timeout_;
  std::vector<event> current_;
  std::uint64_t batch_no_ = 0;
  std::vector<subscription_ref> producers_;  // the subscriptions to producers still open
};

struct refill {};

/// `rate_limit`: passes events on at most `per_second`, by asking its producers for no more than
/// that (manual demand; the arithmetic is rate_pacer's). Nothing is dropped and nothing piles up:
/// what is not asked for is not produced.
class rate_limit_stage final : public producer_consumer<event, event> {
 public:
  rate_limit_stage(const json& o, const stage_instance&)
      : per_second_(o.value("per_second", 1.0)), pacer_(per_second_, rate_pacer::clock::time_point{}) {}

  // The pacer starts on the runtime's clock (virtual in `sluice test`), before any subscription.
  void init(stage_context<event>& ctx) override { pacer_ = rate_pacer(per_second_, ctx.process().rt().now()); }

  demand_kind handle_subscribe(peer_kind peer, const subscription_options& opts, subscription_ref from,
                               stage_context<event>& ctx) override {
    if (peer != peer_kind::producer) return demand_kind::automatic;
    producers_.push_back(from);
    pacer_.add(from.id, opts.max_demand);
    pump(ctx);
    return demand_kind::manual;
  }
  void handle_cancel(cancel_kind, const exit_reason&, subscription_ref from, stage_context<event>&) override {
    // A consumer's cancel is not a producer's: ids are unique per subscriber only.
    if (std::erase(producers_, from) != 0) pacer_.remove(from.id);
  }
  void handle_events(std::span<event> events, subscription_ref from, stage_context<event>& ctx) override {
    pacer_.received(from.id, events.size());
    ctx.emit_in_place(events);  // passed on as they came: the batch itself goes on
    pump(ctx);                  // re-ask at once when the credit allows (rates above max_demand)
  }
  void handle_info(message& m, stage_context<event>& ctx) override {
    if (!m.is<refill>()) return;
    armed_ = false;
    pump(ctx);
  }

 private:
  /// Asks what the credit allows, and sets a wake if some room was left for lack of credit.
  void pump(stage_context<event>& ctx) {
    for (const rate_pacer::ask& a : pacer_.asks(ctx.process().rt().now())) {
      for (const subscription_ref& p : producers_) {
        if (p.id == a.id) ctx.ask(p, a.n);
      }
    }
    if (armed_) return;
    if (auto wait = pacer_.wake_in()) {
      armed_ = true;
      ctx.process().send_after(ctx.self(), refill{}, *wait);
    }
  }

  double per_second_;
  rate_pacer pacer_;
  std::vector<subscription_ref> producers_;
  bool armed_ = false;  // a refill is on its way: one at a time
};

/// How much of an event a jq error message shows.
constexpr std::size_t shown_event_bytes = 200;

/// `event` as compact JSON, cut after `shown_event_bytes` (at a UTF-8 character boundary).
std::string shown(const event& e) {
  std::string text = e.json();
  if (text.size() <= shown_event_bytes) return text;
  const std::size_t size = text.size();
  std::size_t cut = shown_event_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // a continuation byte
  text.resize(cut);
  return text + "... (" + std::to_string(size) + " bytes)";
}

/// `jq`: runs a jq program on each event; each input gives 0..n outputs, emitted as downstream
/// takes them. A turn emits at most `outputs_per_turn` outputs (or one input batch's worth when
/// the batch is larger); a run with more is resumed once those have been dispatched (an info
/// queued behind them), keeping its jq_state in between. Meanwhile no new input is taken: demand
/// upstream is manual, asked again only for events whose runs have ended, so at most max_demand
/// events per subscription wait here. On a drain, a run stops at its next pause.
/// The jq stage's `key` and `time` options: jq programs run on each output to set its key (the
/// compact JSON of the program's first output) and its event time (a number: seconds since the
/// epoch). No output leaves the field as it was.
class output_metadata {
 public:
  output_metadata(const json& o, std::size_t max_depth) : key_(program(o, "key", max_depth)), time_(program(o, "time", max_depth)) {}

  /// Sets `e`'s key and time; throws jq_error as the programs do, or for a time not a number.
  void apply(event& e) {
    if (key_) {
      if (auto k = first_output(*key_, e)) e.set_key(std::move(*k));
    }
    if (!time_) return;
    auto t = first_output(*time_, e);
    if (!t) return;
    double seconds = 0;
    const auto [end, ec] = std::from_chars(t->data(), t->data() + t->size(), seconds);
    if (ec != std::errc() || end != t->data() + t->size() || !std::isfinite(seconds)) {
      const std::string message = "time: " + *t + " is not a number (expected seconds since the epoch)";
      throw jq_error(message, json(message), 5, false);
    }
    // Whole seconds and the fraction apart, so that 1700000000.25 stays exactly that; saturated
    // at the int64 nanoseconds' range.
    constexpr double limit = 9.2e9;
    seconds = std::clamp(seconds, -limit, limit);
    const double whole = std::floor(seconds);
    e.set_time_ns(static_cast<std::int64_t>(whole) * 1'000'000'000 + std::llround((seconds - whole) * 1e9));
  }

  /// The options' compile errors, for the type's check.
  static void check(const json& o, std::vector<pipeline::option_problem>& problems) {
    for (const char* name : {"key", "time"}) {
      if (!o.contains(name) || !o[name].is_string()) continue;
      auto compiled = jq_program::compile(o[name].get<std::string>());
      if (auto* why = std::get_if<std::string>(&compiled)) problems.push_back({name, "jq program does not compile: " + *why, "a valid jq program"});
    }
  }

 private:
  static std::optional<jq_program> program(const json& o, const char* name, std::size_t max_depth) {
    if (!o.contains(name) || !o[name].is_string()) return std::nullopt;
    return std::get<jq_program>(jq_program::compile(o[name].get<std::string>(), max_depth));
  }
  std::optional<jq_program> key_;
  std::optional<jq_program> time_;
};

class jq_stage final : public producer_consumer<event, event> {
 public:
  jq_stage(const json& o, const stage_instance& instance)
      : program_(std::get<jq_program>(jq_program::compile(o.at("filter").get<std::string>(),
                                                          static_cast<std::size_t>(int_option(o, "max_depth", jq_program::default_max_depth))))),
        metadata_(o, program_.max_depth()),
        policy_(policy_of(o, instance)),
        name_(instance.name),
        dead_letter_origin_(instance.dead_letter_origin),
        counters_(instance.stats) {}

  demand_kind handle_subscribe(peer_kind peer, const subscription_options& opts, subscription_ref from,
                               stage_context<event>& ctx) override {
    if (peer != peer_kind::producer) return demand_kind::automatic;
    producers_.push_back({from, opts.max_demand, opts.effective_min_demand(), opts.max_demand});
    ctx.ask(from, opts.max_demand);
    return demand_kind::manual;
  }
  void handle_cancel(cancel_kind, const exit_reason&, subscription_ref from, stage_context<event>&) override {
    std::erase_if(producers_, [&](const upstream& u) { return u.from == from; });
  }

  void handle_events(std::span<event> events, subscription_ref from, stage_context<event>& ctx) override {
    if (failed_) return;  // stopping: what still comes is not run
    if (busy()) {         // a run is waiting for demand: this batch waits behind it
      held_.push_back({from.id, std::vector<event>(std::make_move_iterator(events.begin()), std::make_move_iterator(events.end())), 0, events.size()});
      return;
    }
    std::size_t budget = std::max(outputs_per_turn, events.size());
    current_from_ = from.id;
    retained_ = 0;
    for (std::size_t i = 0; i < events.size() && !failed_; ++i) {
      if (!run(events[i], budget, ctx)) {  // paused: the rest of the batch waits, this event first
        held_.push_back({from.id, std::vector<event>(std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(i)),
                                                    std::make_move_iterator(events.end())), 1, events.size(), 0, retained_});
        return pause(ctx);
      }
    }
    flush(ctx);
    batch_done(from.id, events.size() - retained_, ctx);
  }

  void handle_info(message& m, stage_context<event>& ctx) override {
    if (auto* r = m.get_if<retry_due>()) return retry(r->id, ctx);
    if (!m.is<resume>()) return;
    resumed_ = false;
    work(ctx);
  }

  bool handle_input_end(stage_context<event>&) override {
    input_ended_ = true;
    return (!busy() && retries_.empty()) || failed_;  // else work() finishes once its runs and retries are done
  }

  void handle_drain(stage_context<event>&) override {
    drained_ = true;  // the run in progress (if any) stops when its resume comes
  }

 private:
  struct upstream {
    subscription_ref from;
    std::size_t max;
    std::size_t min;
    std::size_t outstanding;  // asked for and not yet run to the end
  };
  struct waiting_batch {
    std::uint64_t from;
    std::vector<event> events;
    std::size_t next;   // the next event to start; the one before is the run in progress, if any
    std::size_t asked;  // the events this batch counts against its subscription's demand
    std::size_t runs = 0;      // a retry: the runs of its one event so far
    std::size_t retained = 0;  // its events waiting for a retry: their demand is given back then
    std::uint64_t position = 0;  // a retry: its event's place in the input
  };
  struct resume {};
  /// A failed input waiting for its next run; it keeps one unit of its subscription's demand.
  struct waiting_retry {
    event input;
    std::size_t runs;    // so far
    std::uint64_t from;  // the subscription it counts against
    std::uint64_t position;
  };
  struct retry_due {
    std::uint64_t id;
  };

  /// The stage's on_error: the engine key, else the `on_error` option ("fail" or "skip").
  static pipeline::error_policy policy_of(const json& o, const stage_instance& instance) {
    if (instance.on_error) return *instance.on_error;
    pipeline::error_policy p;
    if (string_option(o, "on_error", "fail") == "skip") p.then = pipeline::error_policy::action::skip;
    return p;
  }

  static constexpr std::size_t outputs_per_turn = 1024;

  [[nodiscard]] bool busy() const noexcept { return program_.running() || !held_.empty(); }

  /// Starts the run of `event` (its `runs`-th), and takes its outputs within `budget`; false when
  /// it paused.
  bool run(event& input, std::size_t& budget, stage_context<event>& ctx, std::size_t runs = 1, std::uint64_t position = 0) {
    run_position_ = runs == 1 ? ++position_ : position;
    run_outputs_ = out_.size();
    try {
      program_.start(input);
    } catch (const jq_error& e) {
      failure(e, input, ctx, runs);
      return true;
    }
    return take(input, budget, ctx, runs);
  }

  /// Takes outputs of the run in progress (of `event`) within `budget`; false when it paused.
  /// A run that ends has handled its input: done (its outputs hold its acknowledgement now). One
  /// abandoned by a drain has not: the input's holder fails as it is destroyed.
  bool take(event& input, std::size_t& budget, stage_context<event>& ctx, std::size_t runs = 1) {
    try {
      const std::size_t before = out_.size();
      const jq_outcome o = program_.next(budget, input, out_);
      budget -= std::min(budget, out_.size() - before);
      for (std::size_t i = before; i < out_.size(); ++i) metadata_.apply(out_[i]);
      if (o != jq_outcome::more) {
        input.ack().done();
        return true;
      }
      if (drained_) program_.abandon();  // draining: the rest of this run is not computed
      return !program_.running();
    } catch (const jq_error& e) {
      failure(e, input, ctx, runs);
      return true;
    }
  }

  /// Resumes: the run in progress, then the waiting batches, within a turn's budget.
  void work(stage_context<event>& ctx) {
    std::size_t budget = outputs_per_turn;
    while (!held_.empty() && !failed_) {
      waiting_batch& b = held_.front();
      current_from_ = b.from;
      retained_ = b.retained;
      const std::size_t runs = b.runs + 1;  // a retry's run; 1 for a batch of new inputs
      if (program_.running() && drained_) program_.abandon();  // draining: not resumed
      if (program_.running() && !take(b.events[b.next - 1], budget, ctx, runs)) return paused_in(b, ctx);
      while (b.next < b.events.size() && !failed_) {
        if (!run(b.events[b.next++], budget, ctx, runs, b.position)) return paused_in(b, ctx);
      }
      if (failed_) break;
      const std::uint64_t from = b.from;
      const std::size_t given_back = b.asked - retained_;
      held_.pop_front();
      batch_done(from, given_back, ctx);
    }
    if (failed_) {
      held_.clear();  // stopping: what waits is not run (its holders fail)
      return;
    }
    flush(ctx);
    if (input_ended_ && retries_.empty()) ctx.stop_after_dispatch();
  }

  void paused_in(waiting_batch& b, stage_context<event>& ctx) {
    b.retained = retained_;
    pause(ctx);
  }

  /// A failed input's back-off is over: it runs again behind the batches waiting (at once if none).
  void retry(std::uint64_t id, stage_context<event>& ctx) {
    auto it = retries_.find(id);
    if (it == retries_.end()) return;
    waiting_retry r = std::move(it->second);
    retries_.erase(it);
    if (failed_) return;  // stopping: its holder fails as it is destroyed
    if (counters_) counters_->retried.fetch_add(1, std::memory_order_relaxed);
    std::vector<event> one;
    one.push_back(std::move(r.input));
    const bool idle = !busy();
    held_.push_back({r.from, std::move(one), 0, 1, r.runs, 0, r.position});
    if (idle) work(ctx);
  }

  /// Emits this turn's outputs and resumes once downstream has taken them.
  void pause(stage_context<event>& ctx) {
    flush(ctx);
    if (failed_ || resumed_) return;
    resumed_ = true;
    ctx.async_info(resume{});
  }

  void flush(stage_context<event>& ctx) {
    run_outputs_ = 0;  // what the run in progress made so far has gone on
    if (out_.empty()) return;
    ctx.emit(std::move(out_));
    out_ = {};
  }

  /// The `n` events of a batch from subscription `from` have been run: ask again at min_demand.
  void batch_done(std::uint64_t from, std::size_t n, stage_context<event>& ctx) {
    for (upstream& u : producers_) {
      if (u.from.id != from) continue;
      u.outstanding -= std::min(u.outstanding, n);
      if (u.outstanding > u.min || failed_) return;
      ctx.ask(u.from, u.max - u.outstanding);
      u.outstanding = u.max;
    }
  }

  /// A jq error on `event`, on its `runs`-th run. With retries left, it runs again after its
  /// back-off (the outputs its failed run made and has not sent yet are dropped: the retry makes
  /// them again) while the stage goes on with the inputs behind it. Then, as `on_error` says: it is
  /// skipped and counted; or sent to the dead-letter stage with what failed, in order among the
  /// outputs; or the stage stops with it once the outputs of the events before (and of this one
  /// before its error) have been dispatched. A skipped event counts as handled (acknowledged, as a
  /// filter's): redelivering it would fail again; a dead letter's input is handled once the
  /// dead-letter stage has handled the dead letter.
  void failure(const jq_error& e, event& input, stage_context<event>& ctx, std::size_t runs) {
    using action = pipeline::error_policy::action;
    if (runs <= policy_.max_retries || policy_.then == action::dead_letter) drop_run_outputs();
    if (runs <= policy_.max_retries) {
      const std::uint64_t id = next_retry_++;
      retries_.emplace(id, waiting_retry{std::move(input), runs, current_from_, run_position_});
      ++retained_;
      ctx.process().send_after(ctx.self(), retry_due{id}, policy_.backoff_before(runs));
      return;
    }
    if (policy_.then == action::skip) {
      if (counters_) counters_->skipped.fetch_add(1, std::memory_order_relaxed);
      input.ack().done();
      return;
    }
    if (policy_.then == action::dead_letter) {
      if (counters_) counters_->dead_lettered.fetch_add(1, std::memory_order_relaxed);
      out_.push_back(pipeline::make_dead_letter(std::move(input), name_, e.what(), runs, dead_letter_origin_,
                                                ctx.process().rt().system_now()));
      return;
    }
    // `input` may be in held_.front(): work() drops the waiting batches once this returns.
    failed_ = true;
    retries_.clear();
    flush(ctx);
    const std::string tries = runs > 1 ? " (after " + std::to_string(runs) + " attempts)" : "";
    ctx.stop_after_dispatch(exit_reason::error("jq error on event " + std::to_string(run_position_) +
                                               " of its input (" + shown(input) + ")" + tries + ": " + e.what()));
  }

  /// Drops the outputs of the failed run still in this turn's outputs; they hold its input's
  /// acknowledgement, which the input itself now answers for.
  void drop_run_outputs() {
    for (std::size_t i = run_outputs_; i < out_.size(); ++i) out_[i].ack().done();
    out_.erase(out_.begin() + static_cast<std::ptrdiff_t>(std::min(run_outputs_, out_.size())), out_.end());
  }

  jq_program program_;
  output_metadata metadata_;
  pipeline::error_policy policy_;
  std::string name_;                    // the instance's, in dead letters
  pipeline::origin_ref dead_letter_origin_;
  std::shared_ptr<stage_counters> counters_;
  std::vector<event> out_;              // this turn's outputs
  std::size_t run_outputs_ = 0;         // where the run in progress's outputs begin in out_
  std::map<std::uint64_t, waiting_retry> retries_;  // failed inputs waiting for their back-off
  std::uint64_t next_retry_ = 0;
  std::uint64_t current_from_ = 0;      // the subscription of the batch being run
  std::size_t retained_ = 0;            // its events now waiting for a retry
  std::vector<upstream> producers_;
  std::deque<waiting_batch> held_;     // batches waiting for the run in progress; the front has it
  std::uint64_t position_ = 0;         // events started so far
  std::uint64_t run_position_ = 0;     // the number of the event whose run is in progress
  bool resumed_ = false;               // a resume is queued behind the outputs emitted
  bool input_ended_ = false;           // the engine left finishing to this stage
  bool drained_ = false;
  bool failed_ = false;
};

}  // namespace

void register_transforms(pipeline::registry& r) {
  {
    auto on_error = opt("on_error", option_type::string, "a jq runtime error: fail the stage, or skip that event (counted)", false, "fail");
    on_error.one_of = {"fail", "skip"};
    auto max_depth = opt("max_depth", option_type::integer, "deepest nesting of arrays and objects in and out of jq (1 to 1000); a deeper output is an error", false,
                         static_cast<std::int64_t>(jq_program::default_max_depth));
    max_depth.minimum = 1;
    max_depth.maximum = static_cast<double>(jq_program::max_max_depth);
    auto t = describe("jq", stage_role::transform,
                    "Runs a jq program on each event; 0..n outputs each (maps, filters, flattens).",
                    {opt("filter", option_type::string, "the jq program ($meta holds the event's metadata: source, path, position, time, id, key)", true), on_error, max_depth,
                     opt("key", option_type::string, "a jq program run on each output: its first result (compact JSON) becomes the output's key (partitioning)"),
                     opt("time", option_type::string, "a jq program run on each output: its first result, a number of seconds since the epoch, becomes the output's event time")}, start_json_stage<jq_stage>);
    t.check = [](const json& o) {
      std::vector<pipeline::option_problem> p;
      output_metadata::check(o, p);
      if (!o.contains("filter") || !o["filter"].is_string()) return p;
      auto compiled = jq_program::compile(o["filter"].get<std::string>());
      if (auto* why = std::get_if<std::string>(&compiled)) p.push_back({"filter", "jq program does not compile: " + *why, "a valid jq program"});
      return p;
    };
    t.routes_failures = true;
    r.add(std::move(t));
  }
  {
    auto size = opt("size", option_type::integer, "events per array (1 to 10,000,000)", true);
    size.minimum = 1;
    size.maximum = static_cast<double>(max_batch_size);
    auto timeout = opt("timeout_ms", option_type::integer, "flush a partial array this long after its first event (0: only when full or at the end; at most a week)", false, 0);
    timeout.minimum = 0;
    timeout.maximum = static_cast<double>(max_batch_timeout_ms);
    r.add(describe("batch", stage_role::transform,
                    "Collects events into arrays of `size`; a partial array goes out after `timeout_ms` and at the end.",
                    {size, timeout}, start_json_stage<batch_stage>));
  }
  {
    auto per_second = opt("per_second", option_type::number, "events per second (0.001 to 1,000,000,000)", true);
    per_second.minimum = rate_pacer::min_rate;
    per_second.maximum = rate_pacer::max_rate;
    r.add(describe("rate_limit", stage_role::transform,
                    "Passes at most `per_second` events a second on, by holding demand back (never dropping).",
                    {per_second}, start_json_stage<rate_limit_stage>));
  }
}

}  // namespace sluice::stages
