// `sluice top [URL]`: the figures of a running `sluice run --http` in the terminal, like
// `vector top`: one row per stage with its rates, buffer, demand, time shares and state; sorted
// and filtered by keys; the stalled stage highlighted (and flagged in words). A plain mode (no
// escape codes, one table per refresh) for non-terminals, chosen by itself when standard output is
// not a terminal.
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iomanip>
#include <optional>
#include <regex>
#include <sstream>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "usage.hpp"

namespace sluice::app {

namespace {

using json = nlohmann::json;

/// A column: its title and how a stage's cell reads; `key`: its sort value.
struct column {
  const char* title;
  int width;
  std::function<std::string(const json&)> cell;
  std::function<double(const json&)> key;  ///< empty: sorted by the cell's text
};

std::string rate(double per_second) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(per_second >= 100 || per_second == 0 ? 0 : 1);
  if (per_second >= 1e9) s << per_second / 1e9 << "G";
  else if (per_second >= 1e6) s << per_second / 1e6 << "M";
  else if (per_second >= 1e4) s << per_second / 1e3 << "k";
  else s << per_second;
  return s.str() + "/s";
}

std::string count(const json& v) { return v.is_number() ? std::to_string(v.get<std::uint64_t>()) : "-"; }
std::string percent(const json& v) { return std::to_string(static_cast<int>(v.get<double>() * 100 + 0.5)) + "%"; }
double number(const json& v) { return v.is_number() ? v.get<double>() : 0; }

std::string flags(const json& s) {
  std::string f;
  if (s["stalled"] == true) f += "STALLED ";
  if (s["bottleneck"] == true) f += "BOTTLENECK ";
  return f.empty() ? "-" : f.substr(0, f.size() - 1);
}

const std::vector<column>& columns() {
  static const std::vector<column> c{
      {"STAGE", 18, [](const json& s) { return s["name"].get<std::string>() + (s["copies"] > 1 ? " x" + count(s["copies"]) : ""); }, {}},
      {"TYPE", 10, [](const json& s) { return s["type"].get<std::string>(); }, {}},
      {"STATE", 15, [](const json& s) { return s["state"].get<std::string>(); }, {}},
      {"IN", 10, [](const json& s) { return s["role"] == "source" ? std::string("-") : rate(number(s["in_per_second"])); }, [](const json& s) { return number(s["in_per_second"]); }},
      {"OUT", 10, [](const json& s) { return s["role"] == "sink" ? std::string("-") : rate(number(s["out_per_second"])); }, [](const json& s) { return number(s["out_per_second"]); }},
      {"BUFFERED", 9, [](const json& s) { return count(s["buffered"]); }, [](const json& s) { return number(s["buffered"]); }},
      {"QUEUED", 8, [](const json& s) { return count(s["queued"]); }, [](const json& s) { return number(s["queued"]); }},
      {"DEMAND", 8, [](const json& s) { return count(s["demand_outstanding"]); }, [](const json& s) { return number(s["demand_outstanding"]); }},
      {"BUSY", 6, [](const json& s) { return percent(s["busy_ratio"]); }, [](const json& s) { return number(s["busy_ratio"]); }},
      {"BACKPR", 7, [](const json& s) { return percent(s["back_pressured_ratio"]); }, [](const json& s) { return number(s["back_pressured_ratio"]); }},
      {"IN TOTAL", 11, [](const json& s) { return count(s["events_in"]); }, [](const json& s) { return number(s["events_in"]); }},
      {"OUT TOTAL", 11, [](const json& s) { return count(s["events_out"]); }, [](const json& s) { return number(s["events_out"]); }},
      {"DROPPED", 8, [](const json& s) { return count(s["dropped"]); }, [](const json& s) { return number(s["dropped"]); }},
      {"RESTARTS", 9, [](const json& s) { return count(s["restarts"]); }, [](const json& s) { return number(s["restarts"]); }},
      {"FLAGS", 0, flags, {}},
  };
  return c;
}

struct top_options {
  std::string url = "http://127.0.0.1:8464";
  int interval_ms = 1000;
  std::optional<std::size_t> sort;  ///< a column; none: file order
  bool descending = false;
  std::optional<std::regex> filter;  ///< on the stage's name
  std::string filter_text;
  bool plain = false;
  long long count = 0;  ///< refreshes before exiting; 0: until interrupted
  bool help = false;
};

/// "host:port" (SLUICE_HTTP's form) or a URL, as a base URL without a trailing slash.
std::string base_url(std::string u) {
  if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) u = "http://" + u;
  while (!u.empty() && u.back() == '/') u.pop_back();
  return u;
}

std::optional<std::size_t> column_named(const std::string& name) {
  for (std::size_t i = 0; i < columns().size(); ++i) {
    std::string title = columns()[i].title;
    std::transform(title.begin(), title.end(), title.begin(), [](unsigned char c) { return c == ' ' ? '_' : std::tolower(c); });
    if (title == name) return i;
  }
  return std::nullopt;
}

std::optional<long long> integer(const std::string& flag, const std::string& v, long long lo, long long hi, std::ostream& err) {
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < lo || n > hi) {
    err << "sluice: " << flag << " takes an integer from " << lo << " to " << hi << ", got '" << v << "'\n";
    return std::nullopt;
  }
  return n;
}

std::optional<top_options> parse_top(const std::vector<std::string>& args, std::ostream& err) {
  top_options o;
  if (const char* env = std::getenv("SLUICE_HTTP"); env != nullptr && *env != '\0') o.url = base_url(env);
  o.plain = ::isatty(STDOUT_FILENO) == 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 < args.size()) return args[++i];
      err << "sluice: " << a << " needs a value\n";
      return std::nullopt;
    };
    if (a == "--help" || a == "-h") {
      o.help = true;
    } else if (a == "--plain") {
      o.plain = true;
    } else if (a == "--desc") {
      o.descending = true;
    } else if (a == "--interval") {
      auto v = value();
      auto n = v ? integer(a, *v, 100, 60000, err) : std::nullopt;
      if (!n) return std::nullopt;
      o.interval_ms = static_cast<int>(*n);
    } else if (a == "--count") {
      auto v = value();
      auto n = v ? integer(a, *v, 0, 1000000, err) : std::nullopt;
      if (!n) return std::nullopt;
      o.count = *n;
    } else if (a == "--sort") {
      auto v = value();
      if (!v) return std::nullopt;
      o.sort = column_named(*v);
      if (!o.sort) {
        err << "sluice: --sort takes a column (stage, type, state, in, out, buffered, queued, demand, busy, backpr, "
               "in_total, out_total, dropped, restarts), got '" << *v << "'\n";
        return std::nullopt;
      }
    } else if (a == "--filter") {
      auto v = value();
      if (!v) return std::nullopt;
      try {
        o.filter = std::regex(*v);
        o.filter_text = *v;
      } catch (const std::regex_error& e) {
        err << "sluice: --filter: not a regular expression: '" << *v << "' (" << e.what() << ")\n";
        return std::nullopt;
      }
    } else if (a.rfind("--", 0) == 0) {
      err << "sluice: unknown option '" << a << "'\n";
      return std::nullopt;
    } else {
      o.url = base_url(a);
    }
  }
  return o;
}

/// The rows to show, filtered and sorted as asked.
std::vector<json> rows(const json& api, const top_options& o) {
  std::vector<json> r;
  for (const auto& s : api["stages"]) {
    if (!o.filter || std::regex_search(s["name"].get<std::string>(), *o.filter)) r.push_back(s);
  }
  if (o.sort) {
    const column& c = columns()[*o.sort];
    std::stable_sort(r.begin(), r.end(), [&](const json& a, const json& b) {
      const bool less = c.key ? c.key(a) < c.key(b) : c.cell(a) < c.cell(b);
      const bool more = c.key ? c.key(b) < c.key(a) : c.cell(b) < c.cell(a);
      return o.descending ? more : less;
    });
  } else if (o.descending) {
    std::reverse(r.begin(), r.end());
  }
  return r;
}

std::string padded(const std::string& text, int width, bool left) {
  if (width == 0) return text;
  std::string t = text.size() > static_cast<std::size_t>(width) - 1 ? text.substr(0, width - 1) : text;
  const std::string pad(static_cast<std::size_t>(width) - t.size(), ' ');
  return left ? t + pad : pad.substr(1) + t + " ";
}

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&t, &local);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &local);
  return buf;
}

/// The screen: a title line, the header, a row per stage; `colour`: escape codes for a terminal.
std::string render(const json& api, const top_options& o, bool colour) {
  std::ostringstream s;
  const std::string status = api["ended"] == true ? "ended" : api["draining"] == true ? "draining" : api["ready"] == true ? "ready" : "starting";
  s << "sluice top: pipeline \"" << api["pipeline"].get<std::string>() << "\" at " << o.url << "  " << status << "  up "
    << static_cast<long long>(number(api["uptime_seconds"])) << " s  " << now_text();
  if (o.filter) s << "  filter /" << o.filter_text << "/";
  s << "\n";
  std::string header;
  for (std::size_t i = 0; i < columns().size(); ++i) {
    const bool sorted = o.sort == i;
    header += padded(std::string(columns()[i].title) + (sorted ? (o.descending ? "v" : "^") : ""), columns()[i].width, i < 3);
  }
  s << (colour ? "\x1b[1m" + header + "\x1b[0m" : header) << "\n";
  for (const json& r : rows(api, o)) {
    std::string line;
    for (std::size_t i = 0; i < columns().size(); ++i) line += padded(columns()[i].cell(r), columns()[i].width, i < 3);
    if (colour && r["stalled"] == true) line = "\x1b[1;41;97m" + line + "\x1b[0m";
    else if (colour && r["bottleneck"] == true) line = "\x1b[1;33m" + line + "\x1b[0m";
    s << line << "\n";
  }
  for (const auto& st : api["stalled"]) {
    s << "STALLED: \"" << st["stage"].get<std::string>() << "\"";
    if (st["edge"].is_object()) s << " on edge \"" << st["edge"]["from"].get<std::string>() << "\" -> \"" << st["edge"]["to"].get<std::string>() << "\"";
    s << " for " << static_cast<long long>(number(st["seconds"])) << " s: " << st["why"].get<std::string>() << "\n";
  }
  if (colour) s << "\nkeys: 1-9 sort by column (again: reverse), r reverse, 0 file order, q quit";
  return s.str();
}

/// Standard input in raw mode while it lives (a terminal's keys, one at a time, no echo).
class raw_keys {
 public:
  raw_keys() : active_(::isatty(STDIN_FILENO) != 0 && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
    if (!active_) return;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  }
  ~raw_keys() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  raw_keys(const raw_keys&) = delete;
  raw_keys& operator=(const raw_keys&) = delete;

  /// Waits up to `ms` for a key (no key: 0).
  [[nodiscard]] char next(int ms) const {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (!active_ || ::poll(&p, 1, ms) <= 0) {
      if (!active_) ::poll(nullptr, 0, ms);  // no terminal: just the refresh interval
      return 0;
    }
    char c = 0;
    return ::read(STDIN_FILENO, &c, 1) == 1 ? c : 0;
  }

 private:
  termios saved_{};
  bool active_;
};

/// Applies a key; false to quit.
bool on_key(char key, top_options& o) {
  if (key == 'q') return false;
  if (key == 'r') o.descending = !o.descending;
  if (key == '0') o.sort.reset();
  if (key >= '1' && key <= '9') {
    const auto c = static_cast<std::size_t>(key - '1');
    if (o.sort == c) o.descending = !o.descending;
    o.sort = c;
  }
  return true;
}

std::optional<json> fetch(httplib::Client& client, std::string& problem) {
  auto r = client.Get("/api/pipeline");
  if (!r) {
    problem = httplib::to_string(r.error()) + " error (is `sluice run --http` serving there?)";
    return std::nullopt;
  }
  if (r->status != 200) {
    problem = "HTTP " + std::to_string(r->status);
    return std::nullopt;
  }
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object()) {
    problem = "not a sluice /api/pipeline answer";
    return std::nullopt;
  }
  return j;
}

}  // namespace

int top_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto o = parse_top(args, err);
  if (!o) return exit_usage;
  if (o->help) return print_help("top", out);
  httplib::Client client(o->url);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  std::optional<raw_keys> keys;
  if (!o->plain) keys.emplace();
  bool seen = false;
  for (long long n = 1;; ++n) {
    std::string problem;
    const auto api = fetch(client, problem);
    if (!api) {
      if (seen) {
        out << (o->plain ? "" : "\n") << "sluice top: the pipeline at " << o->url << " has gone (" << problem << ")\n";
        return exit_ok;
      }
      err << "sluice top: cannot read " << o->url << "/api/pipeline: " << problem << "\n";
      return exit_failure;
    }
    seen = true;
    out << (o->plain ? "" : "\x1b[H\x1b[2J") << render(*api, *o, !o->plain) << (o->plain ? "\n" : "") << std::flush;
    if (o->count != 0 && n >= o->count) return exit_ok;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(o->interval_ms);
    for (auto left = o->interval_ms; left > 0;) {
      const char key = keys ? keys->next(left) : (::poll(nullptr, 0, left), 0);
      if (key != 0 && !on_key(key, *o)) return exit_ok;
      if (key != 0) break;  // redraw at once in the new order
      left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count());
    }
  }
}

}  // namespace sluice::app
