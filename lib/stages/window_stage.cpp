// The built-in `window` stage: keyed windows over JSON events (sluice/flow/keyed_windows.hpp).
//
// Per event: the key (a jq expression's first output as compact JSON; default: the event's key,
// else `null`, one global window set), the time (the event's metadata time; a jq expression giving
// seconds since the epoch; or the wall clock), the value (a jq expression; default the payload).
// Out: one event per window result, {"key","start","end","value","count","trigger"} (ms since the
// epoch), its event time the window's end and its key the window's key; and {"late": <event>} for
// late inputs, with the input's metadata and acknowledgement (the engine has one output per
// stage: route them with a broadcast and `jq select(has("late"))`). An input that joined a window
// is acknowledged (`done`) there: the window's result is derived state, not the input.
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sluice/flow/keyed_windows.hpp>
#include <sluice/flow/window_spec.hpp>
#include <sluice/stages/jq_program.hpp>

#include "stages/builtin.hpp"

namespace sluice::stages {

namespace {

using flow::stamp;

/// A window value: its JSON text, and the number it is (numeric aggregates).
struct json_value {
  std::string text;
  double number = 0;
};

/// JSON for a double: an integer when it is one below 2^53 (as jq prints), else the shortest form;
/// null for NaN and the infinities (JSON has no such numbers).
std::string number_text(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  if (std::floor(x) == x && std::fabs(x) < 9007199254740992.0) {
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(x));
    return std::string(buf, r.ptr);
  }
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

enum class aggregate_kind : std::uint8_t { count, sum, min, max, mean, first, last, collect, jq };

/// The `aggregate` option as one aggregation (flow/aggregations.hpp's shape), chosen at run time.
class json_aggregate {
 public:
  using value_type = json_value;
  struct acc_type {
    double number = 0;  // count, sum, min, max, mean's sum
    std::uint64_t n = 0;
    std::optional<std::pair<stamp, std::string>> edge;       // first, last
    std::vector<std::pair<std::uint64_t, std::string>> items;  // collect, jq
  };
  using result_type = std::string;

  json_aggregate(aggregate_kind k, std::optional<jq_program> reducer) : kind_(k), reducer_(std::move(reducer)) {}

  [[nodiscard]] bool numeric() const noexcept {
    return kind_ == aggregate_kind::sum || kind_ == aggregate_kind::min || kind_ == aggregate_kind::max || kind_ == aggregate_kind::mean;
  }
  [[nodiscard]] bool needs_value() const noexcept { return kind_ != aggregate_kind::count; }

  acc_type init() const { return {}; }
  void add(acc_type& a, const json_value& v, stamp s) const {
    switch (kind_) {
      case aggregate_kind::min: a.number = a.n == 0 ? v.number : std::min(a.number, v.number); break;
      case aggregate_kind::max: a.number = a.n == 0 ? v.number : std::max(a.number, v.number); break;
      case aggregate_kind::sum:
      case aggregate_kind::mean: a.number += v.number; break;
      case aggregate_kind::first:
        if (!a.edge || s < a.edge->first) a.edge.emplace(s, v.text);
        break;
      case aggregate_kind::last:
        if (!a.edge || !(s < a.edge->first)) a.edge.emplace(s, v.text);
        break;
      case aggregate_kind::collect:
      case aggregate_kind::jq: a.items.emplace_back(s.seq, v.text); break;
      case aggregate_kind::count: break;
    }
    ++a.n;
  }
  void merge(acc_type& a, acc_type&& b) const {
    if (b.n == 0) return;
    switch (kind_) {
      case aggregate_kind::min: a.number = a.n == 0 ? b.number : std::min(a.number, b.number); break;
      case aggregate_kind::max: a.number = a.n == 0 ? b.number : std::max(a.number, b.number); break;
      case aggregate_kind::sum:
      case aggregate_kind::mean: a.number += b.number; break;
      case aggregate_kind::first:
      case aggregate_kind::last:
        if (!a.edge || ((kind_ == aggregate_kind::first) == (b.edge->first < a.edge->first))) a.edge = std::move(b.edge);
        break;
      case aggregate_kind::collect:
      case aggregate_kind::jq: {
        const auto middle = static_cast<std::ptrdiff_t>(a.items.size());
        a.items.insert(a.items.end(), std::make_move_iterator(b.items.begin()), std::make_move_iterator(b.items.end()));
        std::inplace_merge(a.items.begin(), a.items.begin() + middle, a.items.end(),
                           [](const auto& x, const auto& y) { return x.first < y.first; });
        break;
      }
      case aggregate_kind::count: break;
    }
    a.n += b.n;
  }
  /// The result's JSON text. Throws jq_error when the reducer fails.
  std::string result(const acc_type& a) {
    switch (kind_) {
      case aggregate_kind::count: return std::to_string(a.n);
      case aggregate_kind::sum: return number_text(a.number);
      case aggregate_kind::min:
      case aggregate_kind::max: return a.n == 0 ? "null" : number_text(a.number);
      case aggregate_kind::mean: return a.n == 0 ? "null" : number_text(a.number / static_cast<double>(a.n));
      case aggregate_kind::first:
      case aggregate_kind::last: return a.edge ? a.edge->second : "null";
      case aggregate_kind::collect: return array(a);
      case aggregate_kind::jq: return reduce(array(a));
    }
    return "null";
  }

 private:
  static std::string array(const acc_type& a) {
    std::string out = "[";
    for (const auto& [seq, text] : a.items) {
      if (out.size() > 1) out += ',';
      out += text;
    }
    return out += ']';
  }
  /// The reducer's first output on the window's values (null when it has none).
  std::string reduce(const std::string& values) {
    const event in = event::from_text_unchecked(values);
    reducer_->start(in);
    std::vector<event> out;
    (void)reducer_->next(1, in, out);
    reducer_->abandon();
    return out.empty() ? "null" : out.front().json();
  }

  aggregate_kind kind_;
  std::optional<jq_program> reducer_;
};

constexpr const char* aggregate_names[] = {"count", "sum", "min", "max", "mean", "first", "last", "collect"};

std::optional<aggregate_kind> aggregate_of(const std::string& name) {
  for (std::size_t i = 0; i < std::size(aggregate_names); ++i) {
    if (name == aggregate_names[i]) return static_cast<aggregate_kind>(i);
  }
  if (name.starts_with("jq:")) return aggregate_kind::jq;
  return std::nullopt;
}

flow::window_kind kind_of(const std::string& name) {
  if (name == "sliding") return flow::window_kind::sliding;
  if (name == "session") return flow::window_kind::session;
  if (name == "count") return flow::window_kind::count;
  return flow::window_kind::tumbling;
}

/// The options as a window_spec (ranges are checked by validate, in the type's check).
flow::window_spec spec_of(const json& o) {
  flow::window_spec s;
  s.kind = kind_of(string_option(o, "kind", "tumbling"));
  s.size_ms = int_option(o, "size_ms", 0);
  s.slide_ms = int_option(o, "slide_ms", s.size_ms);
  s.gap_ms = int_option(o, "gap_ms", 0);
  s.count = static_cast<std::uint64_t>(std::max<std::int64_t>(0, int_option(o, "count", 0)));
  s.time = string_option(o, "time", "event") == "processing" ? flow::time_base::processing : flow::time_base::event;
  s.allowed_lateness_ms = int_option(o, "allowed_lateness_ms", 0);
  if (auto t = o.find("trigger"); t != o.end() && t->is_object()) {
    s.every_events = static_cast<std::uint64_t>(std::max<std::int64_t>(0, int_option(*t, "every_events", 0)));
    s.every = std::chrono::milliseconds(int_option(*t, "every_ms", 0));
  }
  return s;
}

/// A jq expression option that is not one of `keywords`, compiled; nothing when absent or a keyword.
std::optional<jq_program> expression(const json& o, const char* name, std::initializer_list<const char*> keywords = {}) {
  if (!o.contains(name) || !o[name].is_string()) return std::nullopt;
  const std::string text = o[name].get<std::string>();
  for (const char* k : keywords) {
    if (text == k) return std::nullopt;
  }
  return std::get<jq_program>(jq_program::compile(text));
}

std::optional<jq_program> reducer_of(const json& o) {
  const std::string a = string_option(o, "aggregate", "count");
  if (!a.starts_with("jq:")) return std::nullopt;
  return std::get<jq_program>(jq_program::compile(a.substr(3)));
}

/// Seconds since the epoch (a JSON number's text) as nanoseconds, saturated.
std::optional<std::int64_t> seconds_to_ns(const std::string& t) {
  double seconds = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), seconds);
  if (ec != std::errc() || end != t.data() + t.size() || !std::isfinite(seconds)) return std::nullopt;
  seconds = std::clamp(seconds, -9.2e9, 9.2e9);
  const double whole = std::floor(seconds);
  return static_cast<std::int64_t>(whole) * 1'000'000'000 + std::llround((seconds - whole) * 1e9);
}

using windows_type = flow::keyed_windows<std::string, json_aggregate>;

/// Hands each window result on as its event.
struct emit_results {
  stage_context<event>* ctx;
  void operator()(windows_type::result_type&& r) const;
};

class window_stage final : public producer_consumer<event, event> {
 public:
  window_stage(const json& o, const stage_instance& instance)
      : windows_(spec_of(o), json_aggregate(*aggregate_of(string_option(o, "aggregate", "count")), reducer_of(o)), metrics_),
        key_(expression(o, "key")),
        time_(expression(o, "time", {"event", "processing"})),
        value_(expression(o, "value", {"."})),
        name_(instance.name),
        counters_(instance.stats) {
    const aggregate_kind k = *aggregate_of(string_option(o, "aggregate", "count"));
    windows_agg_needs_value_ = k != aggregate_kind::count;
    numeric_ = k == aggregate_kind::sum || k == aggregate_kind::min || k == aggregate_kind::max || k == aggregate_kind::mean;
  }

  void handle_events(std::span<event> events, subscription_ref, stage_context<event>& ctx) override {
    auto out = emit_results{&ctx};
    const bool processing = windows_.spec().time == flow::time_base::processing;
    const std::int64_t now = processing ? wall_ms(ctx) : 0;
    if (processing) windows_.advance_to(now, out);
    for (event& e : events) {
      ++position_;
      if (windows_.add(key(e), processing ? now : time_ms(e), value(e), out)) {
        e.ack().done();  // in a window now: its result is derived state
        continue;
      }
      if (counters_) counters_->late.fetch_add(1, std::memory_order_relaxed);
      ctx.emit(late(std::move(e)));
    }
    arm(ctx);
    report_open_windows();
  }

  void handle_info(message& m, stage_context<event>& ctx) override {
    if (m.is<close_due>()) {
      close_armed_ = false;
      windows_.advance_to(wall_ms(ctx), emit_results{&ctx});
    } else if (m.is<every_due>()) {
      every_armed_ = false;
      windows_.emit_changed(emit_results{&ctx});
    }
    arm(ctx);
    report_open_windows();
  }

  bool handle_input_end(stage_context<event>& ctx) override {
    windows_.close_all(emit_results{&ctx});
    report_open_windows();
    return true;
  }

  ~window_stage() override {
    if (counters_) counters_->open_windows.fetch_sub(reported_open_, std::memory_order_relaxed);  // a crashed copy's windows are gone
  }

 private:
  struct close_due {};
  struct every_due {};


  friend struct emit_results;
  static event result_event(const windows_type::result_type& r) {
    std::string text = "{\"key\":" + r.key + ",\"start\":" + std::to_string(r.start_ms) + ",\"end\":" + std::to_string(r.end_ms) +
                       ",\"value\":" + r.value + ",\"count\":" + std::to_string(r.count) + ",\"trigger\":\"" + flow::to_string(r.trigger) + "\"}";
    event e = event::from_text_unchecked(text);
    e.set_key(r.key);
    // Saturating: times are within +-2^61 ms, far inside int64 nanoseconds' range only near now;
    // a time beyond it keeps the nearest representable one.
    constexpr std::int64_t max_ms = std::numeric_limits<std::int64_t>::max() / 1'000'000;
    e.set_time_ns(std::clamp<std::int64_t>(r.end_ms, -max_ms, max_ms) * 1'000'000);
    return e;
  }

  static event late(event&& e) {
    std::string text = "{\"late\":";
    e.append_json(text);
    text += '}';
    event out = event::from_text_unchecked(text);
    out.set_metadata_from(e);  // a new holder of its acknowledgement ...
    e.ack().done();            // ... so this one ends as handled
    return out;
  }

  std::string key(const event& e) {
    if (key_) return run(*key_, e, "key").value_or("null");
    if (auto k = e.key()) return std::string(*k);
    return "null";
  }

  std::int64_t time_ms(const event& e) {
    if (!time_) return flow::ms_from_ns(e.time_ns());
    std::optional<std::string> t = run(*time_, e, "time");
    std::optional<std::int64_t> ns = t ? seconds_to_ns(*t) : std::nullopt;
    if (!ns) fail(e, "time: " + t.value_or("no output") + " is not a number (expected seconds since the epoch)");
    return flow::ms_from_ns(*ns);
  }

  json_value value(const event& e) {
    json_value v;
    if (!windows_agg_needs_value_) return v;
    if (value_) {
      std::optional<std::string> t = run(*value_, e, "value");
      if (!t) fail(e, "value: the expression gave no output");
      v.text = std::move(*t);
    } else {
      v.text = e.json();
    }
    if (!numeric_) return v;
    const auto [end, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), v.number);
    if (ec != std::errc() || end != v.text.data() + v.text.size()) fail(e, "value: " + v.text + " is not a number (the aggregate needs numbers)");
    return v;
  }

  /// first_output, with a jq error failing the stage naming the option and the event.
  std::optional<std::string> run(jq_program& p, const event& e, const char* option) {
    try {
      return first_output(p, e);
    } catch (const jq_error& x) {
      fail(e, std::string(option) + ": " + x.what());
    }
  }

  [[noreturn]] void fail(const event& e, const std::string& why) const {
    std::string shown = e.json();
    if (shown.size() > 200) shown = shown.substr(0, 200) + "...";
    throw std::runtime_error("window stage \"" + name_ + "\": event " + std::to_string(position_) + " of its input (" + shown + "): " + why);
  }

  /// Brings the stage's open_windows gauge (summed over copies) up to this copy's count: once per
  /// message, not per window.
  void report_open_windows() {
    if (!counters_) return;
    const std::int64_t now = metrics_->open_windows.load(std::memory_order_relaxed);
    counters_->open_windows.fetch_add(now - reported_open_, std::memory_order_relaxed);  // relaxed: a statistic
    reported_open_ = now;
  }

  /// Processing time: the runtime's wall clock (virtual in `sluice test`), in milliseconds.
  static std::int64_t wall_ms(stage_context<event>& ctx) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(ctx.process().rt().system_now().time_since_epoch()).count();
  }

  void arm(stage_context<event>& ctx) {
    const flow::window_spec& s = windows_.spec();
    if (s.time == flow::time_base::processing && !close_armed_) {
      if (auto end = windows_.next_end()) {
        close_armed_ = true;
        const std::int64_t wait = std::clamp<std::int64_t>(*end - wall_ms(ctx), 1, flow::max_window_ms);
        ctx.process().send_after(ctx.self(), close_due{}, std::chrono::milliseconds(wait));
      }
    }
    if (s.every.count() > 0 && !every_armed_ && windows_.changed()) {
      every_armed_ = true;
      ctx.process().send_after(ctx.self(), every_due{}, s.every);
    }
  }

  std::shared_ptr<flow::window_metrics> metrics_ = std::make_shared<flow::window_metrics>();
  windows_type windows_;
  std::optional<jq_program> key_;
  std::optional<jq_program> time_;
  std::optional<jq_program> value_;
  std::string name_;
  std::shared_ptr<stage_counters> counters_;
  bool windows_agg_needs_value_ = true;
  bool numeric_ = false;
  std::uint64_t position_ = 0;
  bool close_armed_ = false;
  bool every_armed_ = false;
  std::int64_t reported_open_ = 0;  // this copy's share of counters_->open_windows
};

void emit_results::operator()(windows_type::result_type&& r) const { ctx->emit(window_stage::result_event(r)); }

/// The checks beyond the schema: the window's ranges, the aggregate, the jq expressions.
std::vector<pipeline::option_problem> check_window(const json& o) {
  std::vector<pipeline::option_problem> p;
  if (std::string why = flow::validate(spec_of(o)); !why.empty()) {
    const std::string field = why.substr(0, why.find(' '));
    p.push_back({field == "every_events" || field == "every_ms" ? "trigger" : field, why, "a valid " + string_option(o, "kind", "tumbling") + " window"});
  }
  const std::string a = string_option(o, "aggregate", "count");
  if (!aggregate_of(a)) p.push_back({"aggregate", "unknown aggregate \"" + a + "\"", "count, sum, min, max, mean, first, last, collect or jq:<program>"});
  auto compiles = [&](const char* option, const std::string& text) {
    auto compiled = jq_program::compile(text);
    if (auto* why = std::get_if<std::string>(&compiled)) p.push_back({option, "jq program does not compile: " + *why, "a valid jq program"});
  };
  if (a.starts_with("jq:")) compiles("aggregate", a.substr(3));
  for (const char* name : {"key", "value", "time"}) {
    if (!o.contains(name) || !o[name].is_string()) continue;
    const std::string text = o[name].get<std::string>();
    if (std::string(name) == "time" && (text == "event" || text == "processing")) continue;
    compiles(name, text);
  }
  if (auto t = o.find("trigger"); t != o.end()) {
    for (auto& [k, v] : t->items()) {
      if ((k != "every_events" && k != "every_ms") || !v.is_number_integer())
        p.push_back({"trigger", "unknown or ill-typed trigger \"" + k + "\"", "{\"every_events\": N, \"every_ms\": T} (integers)"});
    }
  }
  return p;
}

}  // namespace

void register_window(pipeline::registry& r) {
  auto kind = opt("kind", option_type::string, "tumbling, sliding, session or count", false, "tumbling");
  kind.one_of = {"tumbling", "sliding", "session", "count"};
  auto time = opt("time", option_type::string,
                  "\"event\" (the event's metadata time), \"processing\" (the wall clock), or a jq expression giving seconds since the epoch", false, "event");
  auto t = describe("window", stage_role::transform,
                    "Keyed windows (tumbling, sliding, session, count) over event or processing time: one result event per window; late events go out as {\"late\": event}.",
                    {kind,
                     opt("size_ms", option_type::integer, "tumbling and sliding: the window's length (1 to 315,360,000,000 ms)"),
                     opt("slide_ms", option_type::integer, "sliding: how far apart windows start (1 to size_ms; default size_ms)"),
                     opt("gap_ms", option_type::integer, "session: the inactivity that ends a session (1 to 315,360,000,000 ms)"),
                     opt("count", option_type::integer, "count: events per window (1 to 1,000,000,000)"),
                     time,
                     opt("allowed_lateness_ms", option_type::integer, "event time: how far behind the newest event time the watermark stays (0 to 315,360,000,000)", false, 0),
                     opt("key", option_type::string, "a jq expression: its first output (compact JSON) is the key; default: the event's key, else one global window set"),
                     opt("value", option_type::string, "a jq expression: the value aggregated", false, "."),
                     opt("aggregate", option_type::string, "count, sum, min, max, mean, first, last, collect, or jq:<program> (run on the array of the window's values)", false, "count"),
                     opt("trigger", option_type::object, "partial results besides the final one: {\"every_events\": N} per window, {\"every_ms\": T} for windows changed")},
                    start_json_stage<window_stage>);
  t.check = check_window;
  r.add(std::move(t));
}

}  // namespace sluice::stages
