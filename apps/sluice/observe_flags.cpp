#include "observe_flags.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "observe/http_endpoint.hpp"

namespace sluice::app {

namespace {

/// The flags of parse_options that take a value: their values are not ours to look at.
bool takes_value(const std::string& flag) {
  return flag == "--set" || flag == "--plugin" || flag == "--format" || flag == "--threads" || flag == "--drain-timeout";
}

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

bool set_http(observe_options& o, const std::string& v, const std::string& where, std::ostream& err) {
  try {
    (void)observe::parse_listen_address(v);
  } catch (const std::invalid_argument& e) {
    err << "sluice: " << where << ": " << e.what() << "\n";
    return false;
  }
  o.http = v;
  return true;
}

bool set_log_format(observe_options& o, const std::string& v, const std::string& where, std::ostream& err) {
  if (v != "text" && v != "json") {
    err << "sluice: " << where << " takes text or json, got '" << v << "'\n";
    return false;
  }
  o.json_logs = v == "json";
  return true;
}

bool set_stall_timeout(observe_options& o, const std::string& v, const std::string& where, std::ostream& err) {
  char* end = nullptr;
  const double s = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(s) || s < min_stall_timeout_s || s > max_stall_timeout_s) {
    err << "sluice: " << where << " takes seconds from " << min_stall_timeout_s << " to " << max_stall_timeout_s << ", got '"
        << v << "'\n";
    return false;
  }
  o.stall_timeout = std::chrono::milliseconds(static_cast<long long>(std::llround(s * 1000)));
  return true;
}

using setter = bool (*)(observe_options&, const std::string&, const std::string&, std::ostream&);

struct setting {
  const char* flag;
  const char* variable;
  setter set;
};
constexpr setting settings[] = {
    {"--http", "SLUICE_HTTP", set_http},
    {"--log-format", "SLUICE_LOG_FORMAT", set_log_format},
    {"--stall-timeout", "SLUICE_STALL_TIMEOUT", set_stall_timeout},
};

/// Adds `flag` with the value of `variable` unless `args` give the flag; false (after saying so,
/// naming the variable) if the value is not an integer in `range`.
bool add_from_env(std::vector<std::string>& args, const char* flag, const char* variable, flag_range range, std::ostream& err) {
  if (std::find(args.begin(), args.end(), flag) != args.end()) return true;
  const auto v = env(variable);
  if (!v) return true;
  long long n = 0;
  const auto [stop, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc{} || stop != v->data() + v->size() || n < range.minimum || n > range.maximum) {
    err << "sluice: " << variable << " (" << flag << ") takes an integer from " << range.minimum << " to " << range.maximum
        << ", got '" << *v << "'\n";
    return false;
  }
  args.emplace_back(flag);
  args.push_back(*v);
  return true;
}

}  // namespace

std::optional<observe_options> take_observe_options(std::vector<std::string>& args, std::ostream& err) {
  observe_options o;
  std::vector<std::string> rest;
  std::vector<const setting*> given;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto* s = std::find_if(std::begin(settings), std::end(settings), [&](const setting& x) { return args[i] == x.flag; });
    if (s == std::end(settings)) {
      rest.push_back(args[i]);
      if (takes_value(args[i]) && i + 1 < args.size()) rest.push_back(args[++i]);
      continue;
    }
    if (i + 1 >= args.size()) {
      err << "sluice: " << s->flag << " needs a value\n";
      return std::nullopt;
    }
    if (!s->set(o, args[++i], s->flag, err)) return std::nullopt;
    given.push_back(s);
  }
  for (const setting& s : settings) {  // a variable counts only where its flag is not given
    if (std::find(given.begin(), given.end(), &s) != given.end()) continue;
    if (auto v = env(s.variable); v && !s.set(o, *v, s.variable, err)) return std::nullopt;
  }
  args = std::move(rest);
  if (!add_from_env(args, "--drain-timeout", "SLUICE_DRAIN_TIMEOUT", drain_timeout_range, err) ||
      !add_from_env(args, "--threads", "SLUICE_THREADS", threads_range, err)) {
    return std::nullopt;
  }
  return o;
}

}  // namespace sluice::app
