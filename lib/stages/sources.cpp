// Built-in sources: range, generate, tick, file, stdin.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <sluice/pipeline/dead_letter.hpp>
#include <sluice/pipeline/event_parser.hpp>

#include "stages/builtin.hpp"
#include "stages/line_reader.hpp"
#include "stages/utf8.hpp"

namespace sluice::stages {

namespace {

using namespace std::chrono_literals;

/// `range`: from, from + step, ... up to `to` inclusive (endless without `to`), and never past the
/// ends of int64: the last number it can reach is emitted and the source ends, without wrapping.
class range_source final : public producer<event> {
 public:
  range_source(const json& o, const stage_instance&)
      : next_(int_option(o, "from", 0)), step_(int_option(o, "step", 1)) {
    if (o.contains("to") && !o["to"].is_null()) to_ = o["to"].get<std::int64_t>();
    done_ = beyond_to(next_);
  }
  void handle_demand(std::size_t demand, stage_context<event>& ctx) override {
    std::vector<event> batch;
    batch.reserve(demand);
    const std::int64_t now = now_ns(ctx.process().rt());
    for (std::size_t i = 0; i < demand && !done_; ++i) {
      char text[24];
      const auto end = std::to_chars(text, text + sizeof text, next_).ptr;
      event& e = batch.emplace_back();  // filled in place: no temporary event moved, no call per number
      e.assign_short_text_unchecked({text, static_cast<std::size_t>(end - text)});
      e.set_time_ns(now);
      advance();
    }
    ctx.emit(std::move(batch));
    if (done_) ctx.stop_after_dispatch();
  }

 private:
  void advance() {
    std::int64_t n = 0;
    if (__builtin_add_overflow(next_, step_, &n)) {
      done_ = true;  // the next number is past INT64_MAX (or INT64_MIN): the range ends here
      return;
    }
    next_ = n;
    done_ = beyond_to(n);
  }
  bool beyond_to(std::int64_t n) const { return to_ && (step_ > 0 ? n > *to_ : n < *to_); }
  std::int64_t next_;
  std::int64_t step_;
  std::optional<std::int64_t> to_;
  bool done_ = false;
};

struct pace_tick {};

/// The highest `rate` a generate source paces: one event per nanosecond, the clock's resolution.
constexpr double max_paced_rate = 1e9;

/// `generate`: `event` as given, `count` times (endless without), at most `rate` per second.
class generate_source final : public producer<event> {
 public:
  generate_source(const json& o, const stage_instance&) : event_(event_of(o.value("event", json()))) {
    if (o.contains("count") && !o["count"].is_null()) left_ = o["count"].get<std::uint64_t>();
    // A rate the clock cannot pace (beyond one event per nanosecond) means "as fast as demanded".
    if (o.contains("rate") && !o["rate"].is_null() && o["rate"].get<double>() <= max_paced_rate) rate_ = o["rate"].get<double>();
  }
  void init(stage_context<event>& ctx) override {
    rt_ = &ctx.process().rt();
    started_ = rt_->now();
  }
  void handle_demand(std::size_t demand, stage_context<event>& ctx) override {
    wanted_ += demand;
    emit_allowed(ctx);
  }
  void handle_info(message& m, stage_context<event>& ctx) override {
    if (m.is<pace_tick>()) {
      timer_armed_ = false;
      emit_allowed(ctx);
    }
  }

 private:
  void emit_allowed(stage_context<event>& ctx) {
    std::uint64_t n = wanted_;
    if (left_) n = std::min<std::uint64_t>(n, *left_);
    if (rate_) {
      const std::uint64_t allowed = allowed_so_far();
      n = std::min<std::uint64_t>(n, allowed > emitted_ ? allowed - emitted_ : 0);
    }
    if (n > 0) {
      event_.set_time_ns(now_ns(*rt_));
      ctx.emit(std::vector<event>(n, event_));
      wanted_ -= n;
      emitted_ += n;
      if (left_) *left_ -= n;
    }
    if (left_ && *left_ == 0) return ctx.stop_after_dispatch();
    // Paced and still wanted: come back when the next event is due (an idle source sets no timer).
    if (rate_ && wanted_ > 0 && !timer_armed_) {
      timer_armed_ = true;
      // In seconds, as doubles: no integer conversion to overflow (send_after saturates the rest).
      const double wait = static_cast<double>(emitted_) / *rate_ - elapsed();
      ctx.process().send_after(ctx.self(), pace_tick{}, std::chrono::duration<double>(std::max(wait, 0.001)));
    }
  }

  /// How many events the rate allows since the start (the first at once), saturated.
  std::uint64_t allowed_so_far() const {
    const double allowed = elapsed() * *rate_ + 1;
    constexpr double beyond = 18446744073709551616.0;  // 2^64: the cast below would be undefined
    return allowed >= beyond ? std::numeric_limits<std::uint64_t>::max() : static_cast<std::uint64_t>(allowed);
  }
  double elapsed() const { return std::chrono::duration<double>(rt_->now() - started_).count(); }

  const runtime* rt_ = nullptr;  // the runtime's clock (set in init, before any demand)
  event event_;
  std::optional<std::uint64_t> left_;
  std::optional<double> rate_;
  std::chrono::steady_clock::time_point started_;
  std::uint64_t wanted_ = 0;
  std::uint64_t emitted_ = 0;
  bool timer_armed_ = false;
};

/// `tick`: {"tick": n} every `interval_ms` (`count` times, endless without). Ticks nobody asked
/// for yet wait in the buffer (and are dropped, oldest first, if it fills).
class tick_source final : public producer<event> {
 public:
  tick_source(const json& o, const stage_instance&) : interval_(std::chrono::milliseconds(int_option(o, "interval_ms", 1000))) {
    if (o.contains("count") && !o["count"].is_null()) count_ = o["count"].get<std::uint64_t>();
  }
  void init(stage_context<event>& ctx) override { arm(ctx); }
  void handle_demand(std::size_t, stage_context<event>&) override {}
  void handle_info(message& m, stage_context<event>& ctx) override {
    if (!m.is<pace_tick>()) return;
    char text[40] = "{\"tick\":";
    const auto end = std::to_chars(text + 8, text + sizeof text - 1, n_++).ptr;
    *end = '}';
    event e = event::from_text_unchecked({text, static_cast<std::size_t>(end + 1 - text)});
    e.set_time_ns(now_ns(ctx.process().rt()));
    ctx.emit(std::move(e));
    if (count_ && n_ >= *count_) return ctx.stop_after_dispatch();
    arm(ctx);
  }

 private:
  void arm(stage_context<event>& ctx) { ctx.process().send_after(ctx.self(), pace_tick{}, interval_); }
  std::chrono::milliseconds interval_;
  std::optional<std::uint64_t> count_;
  std::uint64_t n_ = 0;
};

struct read_more {};

/// Default and largest `max_depth`: deep enough for any real document (the jq stage takes 512
/// levels). What is done with a value downstream recurses (dump, copy, comparison): measured, about
/// 200 bytes of stack per level in a release build and 3 KB under ASan, so 1000 levels stay well
/// within a worker thread's 4 MB stack in every build.
constexpr std::int64_t default_max_depth = 512;
constexpr std::int64_t largest_max_depth = 1000;
/// Default and largest `max_line_bytes`: 16 MiB and 1 GiB.
constexpr std::int64_t default_max_line_bytes = std::int64_t{16} << 20;
constexpr std::int64_t largest_max_line_bytes = std::int64_t{1} << 30;

/// `file` and `stdin`: lines (each a JSON string) or jsonl (each line parsed). Runs on a thread of
/// its own (reads block). A line that is too long, not UTF-8, not JSON (jsonl) or nested too deep
/// (jsonl) fails the stage naming file and line, after the lines read before it were sent on, or
/// is skipped and counted (`on_error: skip`), or goes to the dead-letter stage (the stage's
/// `on_error` engine key), its `event` the line as a JSON string (null for a line too long to keep).
class line_source final : public producer<event> {
 public:
  line_source(const json& o, const stage_instance& instance, bool from_stdin)
      : from_stdin_(from_stdin),
        path_(from_stdin ? std::string("<stdin>") : string_option(o, "path", "")),
        jsonl_(string_option(o, "format", "lines") == "jsonl"),
        policy_(policy_of(o, instance)),
        name_(instance.name),
        dead_letter_origin_(instance.dead_letter_origin),
        max_line_(static_cast<std::size_t>(int_option(o, "max_line_bytes", default_max_line_bytes))),
        parser_(pipeline::parse_limits{static_cast<std::size_t>(int_option(o, "max_depth", default_max_depth)), max_line_}),
        origin_(pipeline::make_origin(instance.name, path_)),
        counters_(instance.stats) {}

  void init(stage_context<event>& ctx) override {
    if (from_stdin_) {
      reader_.emplace(STDIN_FILENO, /*owns=*/false, max_line_);
      return;
    }
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ctx.stop(exit_reason::error(path_ + ": cannot open: " + std::strerror(errno)));
    reader_.emplace(fd, /*owns=*/true, max_line_);
  }

  void handle_demand(std::size_t demand, stage_context<event>& ctx) override {
    wanted_ += demand;
    read(ctx);
  }
  void handle_info(message& m, stage_context<event>& ctx) override {
    if (m.is<read_more>()) read(ctx);
  }

 private:
  void read(stage_context<event>& ctx) {
    if (!reader_) return;
    std::vector<event> batch;
    std::string line;
    now_ = now_ns(ctx.process().rt());  // the time read: one clock read per batch
    while (wanted_ > 0) {
      // Reading stdin waits at most 100 ms at a time, so that messages (a stop) still get through.
      const auto r = reader_->next_line(line, from_stdin_ ? 100 : -1);
      if (r == line_reader::result::timeout) {
        ctx.process().send(ctx.self(), read_more{});
        break;
      }
      if (r == line_reader::result::error) return finish(ctx, batch, exit_reason::error(path_ + ": read failed: " + reader_->error()));
      if (r == line_reader::result::end) return finish(ctx, batch, exit_reason::normal());
      ++line_no_;
      std::string problem = r == line_reader::result::too_long
                                ? "line longer than max_line_bytes (" + std::to_string(max_line_) + " bytes)"
                                : take(line, batch);
      if (problem.empty()) continue;
      using action = pipeline::error_policy::action;
      if (policy_.then == action::fail) return finish(ctx, batch, exit_reason::error(where() + problem));
      if (policy_.then == action::dead_letter) {
        dead_letter(r == line_reader::result::too_long ? std::nullopt : std::optional<std::string>(line), problem, batch);
      } else if (counters_) {
        counters_->skipped.fetch_add(1, std::memory_order_relaxed);
      }
    }
    ctx.emit(std::move(batch));
  }

  /// Turns `line` into an event at the end of `batch`; what is wrong with it otherwise.
  std::string take(const std::string& line, std::vector<event>& batch) {
    if (!jsonl_) {
      const std::size_t bad = first_invalid_utf8(line);
      if (bad != std::string_view::npos) return "not valid UTF-8 (byte " + std::to_string(bad + 1) + ")";
      add(string_event(line), batch);
      return {};
    }
    pipeline::parse_result parsed = parser_.parse(line);
    if (!parsed) return parsed.error().message;
    add(std::move(parsed.value()), batch);
    return {};
  }

  void add(event e, std::vector<event>& batch) {
    e.set_origin(origin_);
    e.set_position(line_no_);
    e.set_time_ns(now_);
    batch.push_back(std::move(e));
    --wanted_;
  }

  /// Sends on what was read, then ends with `reason` once it was dispatched: the events before a
  /// failure are delivered, the failure still ends the stage.
  void finish(stage_context<event>& ctx, std::vector<event>& batch, exit_reason reason) {
    ctx.emit(std::move(batch));
    reader_.reset();
    ctx.stop_after_dispatch(std::move(reason));
  }

  std::string where() const { return path_ + ":" + std::to_string(line_no_) + ": "; }

  /// The stage's on_error engine key (the loader refuses its retries on a source: a line read
  /// again is the same line), else the `on_error` option.
  static pipeline::error_policy policy_of(const json& o, const stage_instance& instance) {
    if (instance.on_error) return *instance.on_error;
    pipeline::error_policy p;
    if (string_option(o, "on_error", "fail") == "skip") p.then = pipeline::error_policy::action::skip;
    return p;
  }

  /// The dead letter of the bad line (none: too long to have been kept), at the end of `batch`.
  void dead_letter(const std::optional<std::string>& line, const std::string& problem, std::vector<event>& batch) {
    event input = line ? event::from_text_unchecked(json(*line).dump(-1, ' ', false, json::error_handler_t::replace)) : event();
    input.set_position(line_no_);
    input.set_time_ns(now_);
    if (counters_) counters_->dead_lettered.fetch_add(1, std::memory_order_relaxed);
    const std::chrono::system_clock::time_point read_at(std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(now_)));
    batch.push_back(pipeline::make_dead_letter(std::move(input), name_, where() + problem, 1, dead_letter_origin_, read_at));
    --wanted_;
  }

  bool from_stdin_;
  std::string path_;
  bool jsonl_;
  pipeline::error_policy policy_;
  std::string name_;
  pipeline::origin_ref dead_letter_origin_;
  std::size_t max_line_;
  pipeline::event_parser parser_;
  pipeline::origin_ref origin_;
  std::shared_ptr<stage_counters> counters_;
  std::optional<line_reader> reader_;
  std::int64_t now_ = 0;
  std::uint64_t wanted_ = 0;
  std::uint64_t line_no_ = 0;
};

std::vector<option_spec> line_options(bool with_path) {
  std::vector<option_spec> o;
  if (with_path) {
    o.push_back(opt("path", option_type::string, "the file to read (no file sink may write it)", true));
    o.back().claim = option_claim::shared;
    o.back().claims_file = true;
    o.back().min_length = 1;
  }
  auto format = opt("format", option_type::string, "lines: each line a JSON string; jsonl: each line parsed", false, "lines");
  format.one_of = {"lines", "jsonl"};
  o.push_back(format);
  auto on_error = opt("on_error", option_type::string,
                      "a bad line (too long, not UTF-8, not JSON or too deep): fail the stage naming file and line "
                      "(the lines before it are delivered), or skip it (counted)",
                      false, "fail");
  on_error.one_of = {"fail", "skip"};
  o.push_back(on_error);
  auto depth = opt("max_depth", option_type::integer, "jsonl: the deepest nesting of arrays and objects a line may have",
                   false, default_max_depth);
  depth.minimum = 1;
  depth.maximum = static_cast<double>(largest_max_depth);
  o.push_back(depth);
  auto length = opt("max_line_bytes", option_type::integer,
                    "the longest line in bytes (without its newline); a longer one is never held in memory whole",
                    false, default_max_line_bytes);
  length.minimum = 1;
  length.maximum = static_cast<double>(largest_max_line_bytes);
  o.push_back(length);
  return o;
}

template <bool FromStdin>
pid start_line_source(pipeline::spawner& where, const json& o, stage_instance instance) {
  instance.engine.spawn.dedicated_thread = true;  // reads block
  auto s = std::make_unique<line_source>(o, instance, FromStdin);
  return start(where, std::move(s), std::move(instance.engine));
}

}  // namespace

void register_sources(pipeline::registry& r) {
  {
    auto t = describe("range", stage_role::source,
                    "Integers from `from` to `to` (inclusive) by `step`; endless without `to`.",
                    {opt("from", option_type::integer, "first number", false, 0),
                 opt("to", option_type::integer, "last number (inclusive); absent: endless"),
                 opt("step", option_type::integer, "increment (not 0; negative counts down)", false, 1)}, start_json_stage<range_source>);
    t.check = [](const json& o) {
      std::vector<pipeline::option_problem> p;
      if (o.contains("step") && o["step"] == 0) p.push_back({"step", "step is 0", "a non-zero integer"});
      return p;
    };
    r.add(std::move(t));
  }
  {
    auto count = opt("count", option_type::integer, "how many events; absent: endless");
    count.minimum = 0;
    auto rate = opt("rate", option_type::number, "events per second; absent (or above 1e9, beyond what the clock paces): as fast as demanded");
    rate.minimum = 0.001;
    r.add(describe("generate", stage_role::source,
                    "Emits `event` as given, `count` times (endless without), at most `rate` per second.",
                    {opt("event", option_type::any, "the event to emit", false, json()), count, rate}, start_json_stage<generate_source>));
  }
  {
    auto interval = opt("interval_ms", option_type::integer, "milliseconds between ticks (at most 365 days)", true);
    interval.minimum = 1;
    interval.maximum = 365.0 * 24 * 3600 * 1000;
    auto count = opt("count", option_type::integer, "how many ticks; absent: endless");
    count.minimum = 0;
    r.add(describe("tick", stage_role::source,
                    "Emits {\"tick\": n} every `interval_ms`, `count` times (endless without).",
                    {interval, count}, start_json_stage<tick_source>));
  }
  auto file = describe("file", stage_role::source, "Reads a file line by line (as a source; `file` is also a sink).",
                       line_options(true), start_line_source<false>);
  file.routes_failures = true;
  r.add(std::move(file));
  auto in = describe("stdin", stage_role::source, "Reads standard input line by line.", line_options(false), start_line_source<true>);
  in.routes_failures = true;
  r.add(std::move(in));
}

}  // namespace sluice::stages
