#include "observe/json_log.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace sluice::observe {

std::string json_log_line(const log_record& r, const std::string& pipeline) {
  // ordered: time first, as people read log lines
  nlohmann::ordered_json j{{"time", rfc3339(r.time)}, {"level", to_string(r.level)}, {"pipeline", pipeline},
                           {"stage", nullptr}, {"message", r.message}};
  if (!r.source.empty()) j["stage"] = r.source;
  // Replace, not throw: a message may carry bytes from an event that are not UTF-8.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

log_sink json_log_sink(std::string pipeline) {
  return [pipeline = std::move(pipeline)](const log_record& r) {
    const std::string line = json_log_line(r, pipeline) + "\n";
    for (std::size_t done = 0; done < line.size();) {
      const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
      if (n <= 0) return;  // a closed or full stderr: the record is lost, the pipeline goes on
      done += static_cast<std::size_t>(n);
    }
  };
}

log_level level_of_line(std::string_view line) noexcept {
  auto has = [&](std::string_view part) { return line.find(part) != std::string_view::npos; };
  if (has("\" failed") || has("still running") || has("stopped at once") || has("cannot")) return log_level::error;
  if (has("restarted") || has("interrupted") || has("terminated") || has("went away")) return log_level::warning;
  return log_level::info;
}

std::string stage_of_line(std::string_view line) {
  const auto at = line.find("stage \"");
  if (at == std::string_view::npos) return {};
  const auto from = at + 7;
  const auto to = line.find('"', from);
  return to == std::string_view::npos ? std::string() : std::string(line.substr(from, to - from));
}

json_line_stream::json_line_stream(std::ostream& out) : std::ostream(nullptr), buffer_(out) { rdbuf(&buffer_); }

void json_line_stream::set_pipeline(std::string name) { buffer_.set_pipeline(std::move(name)); }

void json_line_stream::buffer::set_pipeline(std::string name) {
  std::lock_guard lock(mutex_);
  pipeline_ = std::move(name);
}

json_line_stream::buffer::int_type json_line_stream::buffer::overflow(int_type c) {
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  const char ch = traits_type::to_char_type(c);
  xsputn(&ch, 1);
  return c;
}

std::streamsize json_line_stream::buffer::xsputn(const char* s, std::streamsize n) {
  std::lock_guard lock(mutex_);
  std::string& line = partial_[std::this_thread::get_id()];
  for (std::streamsize i = 0; i < n; ++i) {
    if (s[i] != '\n') {
      line += s[i];
      continue;
    }
    emit(line);
    line.clear();
  }
  if (line.empty()) partial_.erase(std::this_thread::get_id());
  return n;
}

int json_line_stream::buffer::sync() {
  std::lock_guard lock(mutex_);
  out_.flush();
  return 0;
}

void json_line_stream::buffer::emit(const std::string& line) {
  std::string_view text = line;
  if (text.rfind("sluice: ", 0) == 0) text.remove_prefix(8);
  if (text.find_first_not_of(' ') == std::string_view::npos) return;  // blank lines carry nothing
  const std::string stage = stage_of_line(text);
  log_record r{level_of_line(text), std::chrono::system_clock::now(), text, stage};
  out_ << (json_log_line(r, pipeline_) + '\n') << std::flush;  // one write: the engine's records go to fd 2 too
}

}  // namespace sluice::observe
