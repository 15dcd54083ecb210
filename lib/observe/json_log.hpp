// lib/observe/json_log.hpp: `--log-format json`, log records as JSON lines.
#pragma once

#include <map>
#include <mutex>
#include <ostream>
#include <streambuf>
#include <string>
#include <thread>

#include <sluice/process/log.hpp>

namespace sluice::observe {

/// One record as a JSON object on one line (no newline): {"time": RFC 3339 UTC with milliseconds,
/// "level", "pipeline", "stage" (the record's source; null when it has none), "message"}.
std::string json_log_line(const log_record& r, const std::string& pipeline);

/// A sink writing json_log_line()s to standard error, one write(2) per line (lines from several
/// threads never interleave). Thread-safe.
log_sink json_log_sink(std::string pipeline);

/// The level `sluice run` gives one of its own report lines (without the `sluice: ` prefix) in JSON:
/// error for failures and for what a deadline stopped, warning for restarts, stalls and signals,
/// info for the rest (the summary, --stats, listening).
log_level level_of_line(std::string_view line) noexcept;
/// The stage a report line names: the first `stage "NAME"` in it ("" if none).
std::string stage_of_line(std::string_view line);

/// An ostream that turns every line written to it into a json_log_line record on `out` (for
/// `sluice run --log-format json`: its own report lines join the engine's records as JSON). Lines
/// are assembled per writing thread, so two threads' fragments never mix. Thread-safe.
class json_line_stream final : public std::ostream {
 public:
  explicit json_line_stream(std::ostream& out);
  /// The pipeline's name in the records from now on.
  void set_pipeline(std::string name);

 private:
  class buffer final : public std::streambuf {
   public:
    explicit buffer(std::ostream& out) : out_(out) {}
    void set_pipeline(std::string name);

   protected:
    int_type overflow(int_type c) override;
    std::streamsize xsputn(const char* s, std::streamsize n) override;
    int sync() override;

   private:
    void emit(const std::string& line);  // under mutex_
    std::ostream& out_;
    std::mutex mutex_;  // guards partial_, pipeline_ and writes to out_
    std::map<std::thread::id, std::string> partial_;
    std::string pipeline_;
  };
  buffer buffer_;
};

}  // namespace sluice::observe
