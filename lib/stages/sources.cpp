// Built-in sources: range, generate, tick, file, stdin.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "stages/builtin.hpp"
#include "stages/line_reader.hpp"

namespace sluice::stages {

namespace {

using namespace std::chrono_literals;

/// `range`: from, from + step, ... up to `to` inclusive (endless without `to`).
class range_source final : public producer<json> {
 public:
  range_source(const json& o, const stage_instance&)
      : next_(int_option(o, "from", 0)), step_(int_option(o, "step", 1)) {
    if (o.contains("to") && !o["to"].is_null()) to_ = o["to"].get<std::int64_t>();
  }
  void handle_demand(std::size_t demand, stage_context<json>& ctx) override {
    std::vector<json> batch;
    batch.reserve(demand);
    for (std::size_t i = 0; i < demand && !done(); ++i, next_ += step_) batch.emplace_back(next_);
    ctx.emit(std::move(batch));
    if (done()) ctx.stop_after_dispatch();
  }

 private:
  bool done() const { return to_ && (step_ > 0 ? next_ > *to_ : next_ < *to_); }
  std::int64_t next_;
  std::int64_t step_;
  std::optional<std::int64_t> to_;
};

struct pace_tick {};

/// `generate`: `event` as given, `count` times (endless without), at most `rate` per second.
class generate_source final : public producer<json> {
 public:
  generate_source(const json& o, const stage_instance&) : event_(o.value("event", json())) {
    if (o.contains("count") && !o["count"].is_null()) left_ = o["count"].get<std::uint64_t>();
    if (o.contains("rate") && !o["rate"].is_null()) rate_ = o["rate"].get<double>();
  }
  void init(stage_context<json>&) override { started_ = std::chrono::steady_clock::now(); }
  void handle_demand(std::size_t demand, stage_context<json>& ctx) override {
    wanted_ += demand;
    emit_allowed(ctx);
  }
  void handle_info(message& m, stage_context<json>& ctx) override {
    if (m.is<pace_tick>()) {
      timer_armed_ = false;
      emit_allowed(ctx);
    }
  }

 private:
  void emit_allowed(stage_context<json>& ctx) {
    std::uint64_t n = wanted_;
    if (left_) n = std::min<std::uint64_t>(n, *left_);
    if (rate_) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
      const auto allowed = static_cast<std::uint64_t>(elapsed * *rate_) + 1;
      n = std::min<std::uint64_t>(n, allowed > emitted_ ? allowed - emitted_ : 0);
    }
    if (n > 0) {
      ctx.emit(std::vector<json>(n, event_));
      wanted_ -= n;
      emitted_ += n;
      if (left_) *left_ -= n;
    }
    if (left_ && *left_ == 0) return ctx.stop_after_dispatch();
    // Paced and still wanted: come back when the next event is due (an idle source sets no timer).
    if (rate_ && wanted_ > 0 && !timer_armed_) {
      timer_armed_ = true;
      const auto due = std::chrono::duration<double>(static_cast<double>(emitted_) / *rate_);
      const auto wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(due) -
                        (std::chrono::steady_clock::now() - started_);
      ctx.process().send_after(ctx.self(), pace_tick{}, std::max<std::chrono::steady_clock::duration>(wait, 1ms));
    }
  }

  json event_;
  std::optional<std::uint64_t> left_;
  std::optional<double> rate_;
  std::chrono::steady_clock::time_point started_;
  std::uint64_t wanted_ = 0;
  std::uint64_t emitted_ = 0;
  bool timer_armed_ = false;
};

/// `tick`: {"tick": n} every `interval_ms` (`count` times, endless without). Ticks nobody asked
/// for yet wait in the buffer (and are dropped, oldest first, if it fills).
class tick_source final : public producer<json> {
 public:
  tick_source(const json& o, const stage_instance&) : interval_(std::chrono::milliseconds(int_option(o, "interval_ms", 1000))) {
    if (o.contains("count") && !o["count"].is_null()) count_ = o["count"].get<std::uint64_t>();
  }
  void init(stage_context<json>& ctx) override { arm(ctx); }
  void handle_demand(std::size_t, stage_context<json>&) override {}
  void handle_info(message& m, stage_context<json>& ctx) override {
    if (!m.is<pace_tick>()) return;
    ctx.emit(json{{"tick", n_++}});
    if (count_ && n_ >= *count_) return ctx.stop_after_dispatch();
    arm(ctx);
  }

 private:
  void arm(stage_context<json>& ctx) { ctx.process().send_after(ctx.self(), pace_tick{}, interval_); }
  std::chrono::milliseconds interval_;
  std::optional<std::uint64_t> count_;
  std::uint64_t n_ = 0;
};

struct read_more {};

/// `file` and `stdin`: lines (each a JSON string) or jsonl (each line parsed). Runs on a thread of
/// its own (reads block). A bad jsonl line fails the stage naming file and line, or is skipped and
/// counted (`on_error: skip`).
class line_source final : public producer<json> {
 public:
  line_source(const json& o, const stage_instance& instance, bool from_stdin)
      : from_stdin_(from_stdin),
        path_(from_stdin ? std::string("<stdin>") : string_option(o, "path", "")),
        jsonl_(string_option(o, "format", "lines") == "jsonl"),
        skip_errors_(string_option(o, "on_error", "fail") == "skip"),
        counters_(instance.stats) {}

  void init(stage_context<json>& ctx) override {
    if (from_stdin_) {
      reader_.emplace(STDIN_FILENO, /*owns=*/false);
      return;
    }
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ctx.stop(exit_reason::error(path_ + ": cannot open: " + std::strerror(errno)));
    reader_.emplace(fd, /*owns=*/true);
  }

  void handle_demand(std::size_t demand, stage_context<json>& ctx) override {
    wanted_ += demand;
    read(ctx);
  }
  void handle_info(message& m, stage_context<json>& ctx) override {
    if (m.is<read_more>()) read(ctx);
  }

 private:
  void read(stage_context<json>& ctx) {
    if (!reader_) return;
    std::vector<json> batch;
    std::string line;
    while (wanted_ > 0) {
      // Reading stdin waits at most 100 ms at a time, so that messages (a stop) still get through.
      const auto r = reader_->next_line(line, from_stdin_ ? 100 : -1);
      if (r == line_reader::result::timeout) {
        ctx.process().send(ctx.self(), read_more{});
        break;
      }
      if (r == line_reader::result::error) return ctx.stop(exit_reason::error(path_ + ": read failed: " + reader_->error()));
      if (r == line_reader::result::end) {
        ctx.emit(std::move(batch));
        reader_.reset();
        return ctx.stop_after_dispatch();
      }
      ++line_no_;
      if (!jsonl_) {
        batch.emplace_back(std::move(line));
        --wanted_;
        continue;
      }
      json value = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (value.is_discarded()) {
        if (!skip_errors_) return ctx.stop(exit_reason::error(path_ + ":" + std::to_string(line_no_) + ": not valid JSON"));
        if (counters_) counters_->skipped.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      batch.push_back(std::move(value));
      --wanted_;
    }
    ctx.emit(std::move(batch));
  }

  bool from_stdin_;
  std::string path_;
  bool jsonl_;
  bool skip_errors_;
  std::shared_ptr<stage_counters> counters_;
  std::optional<line_reader> reader_;
  std::uint64_t wanted_ = 0;
  std::uint64_t line_no_ = 0;
};

std::vector<option_spec> line_options(bool with_path) {
  std::vector<option_spec> o;
  if (with_path) {
    o.push_back(opt("path", option_type::string, "the file to read (no file sink may write it)", true));
    o.back().claim = option_claim::shared;
    o.back().claims_file = true;
  }
  auto format = opt("format", option_type::string, "lines: each line a JSON string; jsonl: each line parsed", false, "lines");
  format.one_of = {"lines", "jsonl"};
  o.push_back(format);
  auto on_error = opt("on_error", option_type::string, "a line that is not JSON (jsonl): fail the stage naming file and line, or skip it (counted)", false, "fail");
  on_error.one_of = {"fail", "skip"};
  o.push_back(on_error);
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
    auto rate = opt("rate", option_type::number, "events per second; absent: as fast as demanded");
    rate.minimum = 0.001;
    r.add(describe("generate", stage_role::source,
                    "Emits `event` as given, `count` times (endless without), at most `rate` per second.",
                    {opt("event", option_type::any, "the event to emit", false, json()), count, rate}, start_json_stage<generate_source>));
  }
  {
    auto interval = opt("interval_ms", option_type::integer, "milliseconds between ticks", true);
    interval.minimum = 1;
    auto count = opt("count", option_type::integer, "how many ticks; absent: endless");
    count.minimum = 0;
    r.add(describe("tick", stage_role::source,
                    "Emits {\"tick\": n} every `interval_ms`, `count` times (endless without).",
                    {interval, count}, start_json_stage<tick_source>));
  }
  r.add(describe("file", stage_role::source, "Reads a file line by line (as a source; `file` is also a sink).",
                 line_options(true), start_line_source<false>));
  r.add(describe("stdin", stage_role::source, "Reads standard input line by line.", line_options(false),
                 start_line_source<true>));
}

}  // namespace sluice::stages
