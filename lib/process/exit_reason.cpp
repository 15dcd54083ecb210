#include <sluice/process/exit_reason.hpp>

#include <ostream>

namespace sluice {

std::string exit_reason::to_string() const {
  switch (kind_) {
    case kind::normal: return "normal";
    case kind::shutdown: return detail_.empty() ? "shutdown" : "{shutdown, " + detail_ + "}";
    case kind::kill: return "kill";
    case kind::killed: return "killed";
    case kind::noproc: return "noproc";
    case kind::error: return "{error, " + detail_ + "}";
    case kind::other: return detail_;
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, const exit_reason& r) { return os << r.to_string(); }

}  // namespace sluice
