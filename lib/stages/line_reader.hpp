// lib/stages/line_reader.hpp: reads lines from a file descriptor, with an optional wait limit and
// a limit on a line's length.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

namespace sluice::stages {

/// Buffered line reader over a file descriptor. A line is what comes before '\n' (a final line
/// without one counts too; a trailing '\r' is dropped). A line longer than `max_line_bytes` is
/// reported as `too_long` as soon as that is known, and the rest of it is read and thrown away
/// without being kept: the buffer never holds more than max_line_bytes plus one read's chunk.
/// Not thread-safe.
class line_reader {
 public:
  enum class result { line, too_long, end, timeout, error };

  /// No limit to speak of (one below the maximum, so that the limit plus a '\r' still fits).
  static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max() - 1;

  line_reader(int fd, bool owns, std::size_t max_line_bytes = unlimited)
      : fd_(fd), owns_(owns), max_line_(max_line_bytes) {}
  line_reader(const line_reader&) = delete;
  line_reader& operator=(const line_reader&) = delete;
  ~line_reader() {
    if (owns_) ::close(fd_);
  }

  /// The next line into `out` (or `too_long`: that line is skipped, `out` is untouched). With
  /// `wait_ms` >= 0, waits at most that long for more input.
  result next_line(std::string& out, int wait_ms) {
    for (;;) {
      if (discarding_ && !skip_rest_of_line()) {
        if (eof_) return result::end;
      } else if (const auto r = take_line(out)) {
        return *r;
      }
      if (eof_) return result::end;
      if (wait_ms >= 0) {
        pollfd p{fd_, POLLIN, 0};
        const int r = ::poll(&p, 1, wait_ms);
        if (r == 0) return result::timeout;
        if (r < 0 && errno != EINTR) return fail();
      }
      if (!fill()) return fail();
    }
  }

  [[nodiscard]] const std::string& error() const noexcept { return error_; }

 private:
  /// A line from the buffer, if it holds a whole one (or the last one, at the end of the input),
  /// or `too_long` once the line under way is known to be over the limit.
  std::optional<result> take_line(std::string& out) {
    const auto nl = buffer_.find('\n', scanned_);
    if (nl != std::string::npos) {
      std::size_t end = nl;
      if (end > start_ && buffer_[end - 1] == '\r') --end;
      const std::size_t from = start_;
      start_ = scanned_ = nl + 1;
      if (end - from > max_line_) return result::too_long;
      out.assign(buffer_, from, end - from);
      return result::line;
    }
    scanned_ = buffer_.size();
    // One byte of slack: a '\r' may end a line of exactly max_line_ bytes whose '\n' is still to come.
    if (buffer_.size() - start_ > max_line_ + 1) {
      discarding_ = true;
      start_ = scanned_ = buffer_.size();
      return result::too_long;
    }
    if (!eof_ || start_ == buffer_.size()) return std::nullopt;
    std::size_t end = buffer_.size();
    if (buffer_[end - 1] == '\r') --end;
    const std::size_t from = start_;
    start_ = scanned_ = buffer_.size();
    if (end - from > max_line_) return result::too_long;
    out.assign(buffer_, from, end - from);
    return result::line;
  }

  /// Drops the buffered part of an over-long line; true once its '\n' was found.
  bool skip_rest_of_line() {
    const auto nl = buffer_.find('\n', start_);
    start_ = scanned_ = nl == std::string::npos ? buffer_.size() : nl + 1;
    if (nl == std::string::npos) return false;
    discarding_ = false;
    return true;
  }

  /// Reads one chunk (dropping what was consumed first: one move per chunk, not one per line);
  /// false on a read error.
  bool fill() {
    buffer_.erase(0, start_);
    scanned_ -= start_;
    start_ = 0;
    char chunk[65536];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0) return errno == EINTR || errno == EAGAIN;  // interrupted: the caller loops (and polls)
    if (n == 0) eof_ = true;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  result fail() {
    error_ = std::strerror(errno);
    return result::error;
  }
  int fd_;
  bool owns_;
  std::size_t max_line_;
  bool eof_ = false;
  bool discarding_ = false;  // in a line over the limit: drop everything up to its '\n'
  std::string buffer_;
  std::size_t start_ = 0;    // where the next line begins in buffer_
  std::size_t scanned_ = 0;  // buffer_ has no '\n' between start_ and here
  std::string error_;
};

}  // namespace sluice::stages
