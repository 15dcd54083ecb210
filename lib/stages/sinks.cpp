// Built-in sinks: stdout, file, null.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <sluice/pipeline/event_parser.hpp>

#include "stages/builtin.hpp"

namespace sluice::stages {

namespace {

/// Writes whole lines to a file descriptor: each batch is formatted into one buffer and written
/// with write(2) (several calls if the kernel takes it in parts), so the output never ends in a
/// partial line, even if the process dies between batches. When a write fails midway (a full
/// disk: ENOSPC, a file size limit: EFBIG), a regular file is truncated back to the end of the
/// last whole line written before the stage fails. A reader that went away (EPIPE) ends the sink
/// with shutdown "output_closed", which the runner takes as the end of the output, not a failure.
/// Runs on a thread of its own (writes block).
class line_sink final : public consumer<event> {
 public:
  line_sink(const json& o, const stage_instance& instance, bool to_stdout)
      : to_stdout_(to_stdout),
        path_(to_stdout ? std::string("<stdout>") : string_option(o, "path", "")),
        text_(string_option(o, "format", "jsonl") == "text"),
        // A restarted sink keeps what its predecessor wrote.
        append_(o.value("append", false) || instance.restarted) {}

  ~line_sink() override {
    if (!to_stdout_ && fd_ >= 0) ::close(fd_);
  }

  void init(stage_context<no_events>& ctx) override {
    if (to_stdout_) {
      fd_ = STDOUT_FILENO;
      return;
    }
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append_ ? O_APPEND : O_TRUNC);
    fd_ = ::open(path_.c_str(), flags, 0644);
    if (fd_ < 0) ctx.stop(exit_reason::error(path_ + ": cannot open for writing: " + std::strerror(errno)));
  }

  void handle_events(std::span<event> events, subscription_ref, stage_context<no_events>& ctx) override {
    out_.clear();
    for (const event& e : events) {
      if (!text_ || !append_string(e, out_)) e.append_json(out_);
      out_ += '\n';
    }
    std::size_t written = 0;
    const int error = write_all(written);
    if (error == 0) return settle(events);  // written: their sources may acknowledge them
    // Not written: the events' holders end undone with the batch (their sources redeliver).
    if (error == EPIPE) return ctx.stop(exit_reason::shutdown("output_closed"));
    ctx.stop(exit_reason::error(path_ + ": write failed: " + std::strerror(error) + drop_partial_line(written)));
  }

 private:
  /// The events are written (and so flushed: there is no user-space buffer between write(2) and
  /// the file): each holder of an acknowledgement is done.
  static void settle(std::span<event> events) {
    for (event& e : events) e.ack().done();
  }

  /// Appends `e`'s string value as it is (text format), if it is a string.
  bool append_string(const event& e, std::string& out) {
    const std::optional<std::string_view> s = strings_.string_value(e);
    if (!s) return false;
    out += *s;
    return true;
  }

  /// Writes out_; 0, or the errno of the write that failed after `written` bytes went out.
  int write_all(std::size_t& written) {
    while (written < out_.size()) {
      const ssize_t n = ::write(fd_, out_.data() + written, out_.size() - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      written += static_cast<std::size_t>(n);
    }
    return 0;
  }

  /// After a failed write that left the first `written` bytes of out_ in the file: cuts a regular
  /// file back to the end of the last whole line. "" if that worked or nothing needed cutting,
  /// else what went wrong, for the error message. (A pipe or terminal cannot be cut.)
  std::string drop_partial_line(std::size_t written) {
    const auto last_newline = written == 0 ? std::string::npos : out_.rfind('\n', written - 1);
    const std::size_t whole = last_newline == std::string::npos ? 0 : last_newline + 1;
    if (whole == written) return {};
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) return {};
    // The file offset is just past the bytes written (O_APPEND too: a write moves it to the end).
    const off_t end = ::lseek(fd_, 0, SEEK_CUR);
    const off_t keep = end - static_cast<off_t>(written - whole);
    if (end < 0 || keep < 0 || ::ftruncate(fd_, keep) != 0) {
      const char* why = end < 0 || keep >= 0 ? std::strerror(errno) : "offset before the batch";
      return std::string("; the last line may be incomplete (cannot truncate: ") + why + ")";
    }
    ::lseek(fd_, keep, SEEK_SET);
    return {};
  }

  bool to_stdout_;
  std::string path_;
  bool text_;
  bool append_;
  int fd_ = -1;
  std::string out_;
  pipeline::event_parser strings_;  // unescapes string events for the text format
};

/// `null`: takes everything, keeps nothing (the engine counts what came in).
class null_sink final : public consumer<event> {
 public:
  null_sink(const json&, const stage_instance&) {}
  void handle_events(std::span<event> events, subscription_ref, stage_context<no_events>&) override {
    for (event& e : events) e.ack().done();  // handled: discarding is this sink's whole job
  }
};

std::vector<option_spec> sink_options(bool with_path) {
  std::vector<option_spec> o;
  if (with_path) {
    o.push_back(opt("path", option_type::string, "the file to write (one file sink per path)", true));
    o.back().claim = option_claim::exclusive;
    o.back().claims_file = true;
    o.back().min_length = 1;
  }
  auto format = opt("format", option_type::string, "jsonl: one JSON value per line; text: strings as they are, other values as JSON", false, "jsonl");
  format.one_of = {"jsonl", "text"};
  o.push_back(format);
  if (with_path) o.push_back(opt("append", option_type::boolean, "append instead of truncating", false, false));
  return o;
}

template <bool ToStdout>
pid start_line_sink(pipeline::spawner& where, const json& o, stage_instance instance) {
  instance.engine.spawn.dedicated_thread = true;
  auto s = std::make_unique<line_sink>(o, instance, ToStdout);
  return start(where, std::move(s), engine_options<line_sink>(std::move(instance.engine)));
}

}  // namespace

void register_sinks(pipeline::registry& r) {
  {
    auto t = describe("stdout", stage_role::sink, "Writes each event to standard output, one per line.",
                      sink_options(false), start_line_sink<true>);
    t.claims = {{"standard output", "/dev/stdout", option_claim::exclusive, true}};  // one writer of fd 1
    r.add(std::move(t));
  }
  {
    r.add(describe("file", stage_role::sink,
                    "Writes each event to a file, one per line; whole lines only, flushed as it goes (a restart appends).",
                    sink_options(true), start_line_sink<false>));
  }
  {
    r.add(describe("null", stage_role::sink,
                    "Discards every event (and counts them).",
                    {}, start_json_stage<null_sink>));
  }
}

}  // namespace sluice::stages
