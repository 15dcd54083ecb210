// lib/stages/line_reader.hpp: reads lines from a file descriptor, with an optional wait limit.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sluice::stages {

/// Buffered line reader over a file descriptor. A line is what comes before '\n' (a final line
/// without one counts too; a trailing '\r' is dropped). Not thread-safe.
class line_reader {
 public:
  enum class result { line, end, timeout, error };

  line_reader(int fd, bool owns) : fd_(fd), owns_(owns) {}
  line_reader(const line_reader&) = delete;
  line_reader& operator=(const line_reader&) = delete;
  ~line_reader() {
    if (owns_) ::close(fd_);
  }

  /// The next line into `out`. With `wait_ms` >= 0, waits at most that long for more input.
  result next_line(std::string& out, int wait_ms) {
    for (;;) {
      const auto nl = buffer_.find('\n', scanned_);
      if (nl != std::string::npos) {
        out.assign(buffer_, start_, nl - start_);
        start_ = scanned_ = nl + 1;
        if (!out.empty() && out.back() == '\r') out.pop_back();
        return result::line;
      }
      scanned_ = buffer_.size();
      if (eof_) {
        if (start_ == buffer_.size()) return result::end;
        out.assign(buffer_, start_, std::string::npos);
        start_ = scanned_ = buffer_.size();
        return result::line;
      }
      if (wait_ms >= 0) {
        pollfd p{fd_, POLLIN, 0};
        const int r = ::poll(&p, 1, wait_ms);
        if (r == 0) return result::timeout;
        if (r < 0 && errno != EINTR) return fail();
      }
      // Drop what was consumed before reading more: one move per chunk, not one per line.
      buffer_.erase(0, start_);
      scanned_ -= start_;
      start_ = 0;
      char chunk[65536];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return fail();
      }
      if (n == 0) eof_ = true;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  [[nodiscard]] const std::string& error() const noexcept { return error_; }

 private:
  result fail() {
    error_ = std::strerror(errno);
    return result::error;
  }
  int fd_;
  bool owns_;
  bool eof_ = false;
  std::string buffer_;
  std::size_t start_ = 0;    // where the next line begins in buffer_
  std::size_t scanned_ = 0;  // buffer_ has no '\n' between start_ and here
  std::string error_;
};

}  // namespace sluice::stages
