// sluice/process/exit_reason.hpp: why a process ended.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>

namespace sluice {

/// Why a process exited, or the reason carried by an exit signal.
///
/// Mirrors Erlang's reasons: `normal`, `shutdown`, `{shutdown, detail}`, `kill` (an untrappable
/// signal; the target then exits with `killed`), `noproc` (the other side did not exist), `error`
/// (a handler threw; `detail` holds the exception's message) and `other` (a named reason, e.g. a
/// stage's cancel reason). A value type, thread-safe as any value.
class exit_reason {
 public:
  enum class kind : std::uint8_t { normal, shutdown, kill, killed, noproc, error, other };

  exit_reason() = default;
  static exit_reason normal() { return {kind::normal, {}}; }
  static exit_reason shutdown(std::string detail = {}) { return {kind::shutdown, std::move(detail)}; }
  static exit_reason kill() { return {kind::kill, {}}; }
  static exit_reason killed() { return {kind::killed, {}}; }
  static exit_reason noproc() { return {kind::noproc, {}}; }
  static exit_reason error(std::string what) { return {kind::error, std::move(what)}; }
  static exit_reason other(std::string name) { return {kind::other, std::move(name)}; }

  [[nodiscard]] kind what() const noexcept { return kind_; }
  [[nodiscard]] const std::string& detail() const noexcept { return detail_; }
  [[nodiscard]] bool is_normal() const noexcept { return kind_ == kind::normal; }
  /// normal, shutdown or {shutdown, detail}: the reasons a transient child or subscription ignores.
  [[nodiscard]] bool is_transient() const noexcept {
    return kind_ == kind::normal || kind_ == kind::shutdown;
  }

  /// `normal`, `shutdown`, `{shutdown, detail}`, `kill`, `killed`, `noproc`, `{error, what}`, or the
  /// bare name of an `other` reason.
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const exit_reason&, const exit_reason&) = default;

 private:
  exit_reason(kind k, std::string detail) : kind_(k), detail_(std::move(detail)) {}
  kind kind_ = kind::normal;
  std::string detail_;
};

/// Writes `r.to_string()`.
std::ostream& operator<<(std::ostream& os, const exit_reason& r);

}  // namespace sluice
