// Reading and validating a `sluice test` file (see test_file.hpp and README "sluice test").
#include "test_file.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <ostream>
#include <set>
#include <variant>

#include <sluice/stages/jq_program.hpp>

namespace sluice::app {

namespace {

using ojson = nlohmann::ordered_json;
using pipeline::diagnostic;
using pipeline::json_document;

/// `key` as one JSON pointer segment (RFC 6901: ~ and / escaped).
std::string segment(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

/// The validation of one test file: every problem collected, each located in the file.
class test_file_checker {
 public:
  test_file_checker(const json_document& doc, std::vector<diagnostic>& out) : doc_(doc), out_(out) {}

  void problem(const std::string& pointer, std::string what, std::string expected = {}, bool at_key = false) {
    out_.push_back({at_key ? doc_.key_where(pointer) : doc_.where(pointer), pointer, std::move(what), std::move(expected)});
  }
  /// Refuses members of `object` not in `known`.
  void only(const ojson& object, const std::string& pointer, std::initializer_list<const char*> known) {
    for (auto& [k, v] : object.items()) {
      bool ok = false;
      for (const char* name : known) ok = ok || k == name;
      if (ok) continue;
      std::string list;
      for (const char* name : known) list += std::string(list.empty() ? "" : ", ") + "\"" + name + "\"";
      problem(pointer + "/" + segment(k), "unknown key \"" + k + "\"", "one of " + list, true);
    }
  }
  const json_document& doc() const { return doc_; }

 private:
  const json_document& doc_;
  std::vector<diagnostic>& out_;
};

/// A `time` value: RFC 3339 text or seconds since the epoch.
std::optional<std::int64_t> time_of(const ojson& v) {
  if (v.is_string()) return parse_rfc3339_ns(v.get<std::string>());
  if (v.is_number()) {
    const double s = v.get<double>();
    if (!std::isfinite(s) || std::abs(s) > 9.2e9) return std::nullopt;
    return static_cast<std::int64_t>(std::llround(s * 1e9));
  }
  return std::nullopt;
}

std::string compact(const ojson& v) {
  return v.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

std::vector<sink_expectation> expectations(test_file_checker& c, const ojson& v, const std::string& pointer,
                                           const pipeline::pipeline_spec& spec) {
  std::vector<sink_expectation> out;
  if (!v.is_object()) {
    c.problem(pointer, "not an object", "{\"<sink>\": {\"events\": [...]} | {\"jq\": \"...\"} | {\"count\": N}}");
    return out;
  }
  for (auto& [sink, e] : v.items()) {
    const std::string at = pointer + "/" + segment(sink);
    const pipeline::stage_spec* s = spec.find(sink);
    if (s == nullptr || s->role != pipeline::stage_role::sink) {
      std::string sinks;
      for (auto& st : spec.stages) {
        if (st.role == pipeline::stage_role::sink) sinks += std::string(sinks.empty() ? "" : ", ") + "\"" + st.name + "\"";
      }
      c.problem(at, s == nullptr ? "no stage \"" + sink + "\" in the pipeline" : "stage \"" + sink + "\" is not a sink",
                "a sink: " + sinks, true);
      continue;
    }
    sink_expectation x;
    x.sink = sink;
    x.pointer = at;
    if (!e.is_object()) {
      c.problem(at, "not an object", "{\"events\": [...], \"unordered\": bool, \"jq\": \"predicate\", \"count\": N}");
      continue;
    }
    c.only(e, at, {"events", "unordered", "jq", "count"});
    if (e.contains("events")) {
      if (!e["events"].is_array()) c.problem(at + "/events", "not an array", "the JSON events the sink must receive");
      else {
        x.events.emplace();
        for (auto& ev : e["events"]) x.events->push_back(nlohmann::json::parse(compact(ev)));
      }
    }
    if (e.contains("unordered")) {
      if (!e["unordered"].is_boolean()) c.problem(at + "/unordered", "not a boolean", "true or false");
      else x.unordered = e["unordered"].get<bool>();
      if (!e.contains("events")) c.problem(at + "/unordered", "\"unordered\" without \"events\"", "", true);
    }
    if (e.contains("jq")) {
      if (!e["jq"].is_string()) c.problem(at + "/jq", "not a string", "a jq predicate, e.g. \".count > 0\"");
      else {
        auto compiled = stages::jq_program::compile(e["jq"].get<std::string>());
        if (auto* why = std::get_if<std::string>(&compiled)) c.problem(at + "/jq", "jq does not compile it: " + *why);
        else x.jq = e["jq"].get<std::string>();
      }
    }
    if (e.contains("count")) {
      if (!e["count"].is_number_unsigned()) c.problem(at + "/count", "not a non-negative integer", "how many events");
      else x.count = e["count"].get<std::size_t>();
    }
    if (!e.contains("events") && !e.contains("jq") && !e.contains("count")) {
      c.problem(at, "nothing to check", "\"events\", \"jq\" or \"count\"");
    }
    out.push_back(std::move(x));
  }
  return out;
}

/// The source a feed step goes to: its `to`, or the pipeline's only source.
std::optional<std::string> feed_target(test_file_checker& c, const ojson& step, const std::string& at,
                                       const pipeline::pipeline_spec& spec) {
  std::vector<std::string> sources;
  for (auto& s : spec.stages) {
    if (s.role == pipeline::stage_role::source) sources.push_back(s.name);
  }
  std::string list;
  for (auto& s : sources) list += std::string(list.empty() ? "" : ", ") + "\"" + s + "\"";
  if (!step.contains("to")) {
    if (sources.size() == 1) return sources[0];
    c.problem(at, "which source? the pipeline has " + std::to_string(sources.size()) + " sources", "\"to\": one of " + list);
    return std::nullopt;
  }
  if (!step["to"].is_string()) {
    c.problem(at + "/to", "not a string", "a source: " + list);
    return std::nullopt;
  }
  const std::string to = step["to"].get<std::string>();
  const pipeline::stage_spec* s = spec.find(to);
  if (s == nullptr || s->role != pipeline::stage_role::source) {
    c.problem(at + "/to", s == nullptr ? "no stage \"" + to + "\" in the pipeline" : "stage \"" + to + "\" is not a source",
              "a source: " + list);
    return std::nullopt;
  }
  return to;
}

std::optional<fed_event> event_of(test_file_checker& c, const ojson& value, const ojson& step, const std::string& at) {
  fed_event e;
  e.json = compact(value);
  if (step.contains("time")) {
    e.time_ns = time_of(step["time"]);
    if (!e.time_ns) {
      c.problem(at + "/time", "not a time", "RFC 3339 text (\"2024-05-01T10:00:00Z\") or seconds since 1970 (a number)");
      return std::nullopt;
    }
  }
  if (step.contains("key")) e.key = compact(step["key"]);
  return e;
}

std::optional<test_step> step_of(test_file_checker& c, const ojson& step, const std::string& at,
                                 const pipeline::pipeline_spec& spec) {
  test_step s;
  s.pointer = at;
  if (!step.is_object()) {
    c.problem(at, "not an object", "{\"event\": ...}, {\"events\": [...]}, {\"advance_ms\": N} or {\"expect\": {...}}");
    return std::nullopt;
  }
  int kinds = 0;
  for (const char* k : {"event", "events", "advance_ms", "expect"}) kinds += step.contains(k) ? 1 : 0;
  if (kinds != 1) {
    c.problem(at, kinds == 0 ? "a step does nothing" : "a step does one thing",
              "exactly one of \"event\", \"events\", \"advance_ms\", \"expect\"");
    return std::nullopt;
  }
  if (step.contains("advance_ms")) {
    c.only(step, at, {"advance_ms"});
    const ojson& v = step["advance_ms"];
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() > 100ull * 365 * 86400 * 1000) {
      c.problem(at + "/advance_ms", "not a number of milliseconds", "an integer from 0 to 100 years");
      return std::nullopt;
    }
    s.what = test_step::kind::advance;
    s.advance = std::chrono::milliseconds(v.get<std::int64_t>());
    return s;
  }
  if (step.contains("expect")) {
    c.only(step, at, {"expect"});
    s.what = test_step::kind::expect;
    s.expect = expectations(c, step["expect"], at + "/expect", spec);
    return s;
  }
  c.only(step, at, {"event", "events", "to", "time", "key"});
  auto to = feed_target(c, step, at, spec);
  if (!to) return std::nullopt;
  s.source = *to;
  if (step.contains("event")) {
    auto e = event_of(c, step["event"], step, at);
    if (!e) return std::nullopt;
    s.events.push_back(std::move(*e));
    return s;
  }
  if (!step["events"].is_array()) {
    c.problem(at + "/events", "not an array", "the JSON events to feed, in order");
    return std::nullopt;
  }
  for (auto& v : step["events"]) {
    auto e = event_of(c, v, step, at);
    if (!e) return std::nullopt;
    s.events.push_back(std::move(*e));
  }
  return s;
}

/// `set` ({"path": value, ...}) as --set assignments.
std::vector<std::string> assignments(test_file_checker& c, const ojson& set, const std::string& at) {
  std::vector<std::string> out;
  if (!set.is_object()) {
    c.problem(at, "not an object", "{\"stages.NAME.options.OPTION\": value, ...}");
    return out;
  }
  for (auto& [path, v] : set.items()) out.push_back(path + "=" + compact(v));
  return out;
}

std::optional<std::chrono::system_clock::time_point> start_of(test_file_checker& c, const ojson& v, const std::string& at) {
  const auto ns = time_of(v);
  if (!ns) {
    c.problem(at, "not a time", "RFC 3339 text (\"2024-05-01T10:00:00Z\") or seconds since 1970 (a number)");
    return std::nullopt;
  }
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(*ns)));
}

/// The virtual wall clock's start when neither the file nor the case gives one.
constexpr std::int64_t default_start_s = 1704067200;  // 2024-01-01T00:00:00Z

}  // namespace

std::optional<std::int64_t> parse_rfc3339_ns(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, used = 0;
  char t = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &t, &h, &mi, &s, &used) != 7) return std::nullopt;
  if ((t != 'T' && t != 't' && t != ' ') || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::size_t i = static_cast<std::size_t>(used);
  std::int64_t frac_ns = 0;
  if (i < text.size() && text[i] == '.') {
    std::int64_t scale = 100000000;
    std::size_t digits = 0;
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
      frac_ns += (text[i] - '0') * scale;
      scale /= 10;
    }
    if (digits == 0) return std::nullopt;
  }
  std::int64_t offset_s = 0;
  if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    ++i;
  } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int oh = 0, om = 0, n = 0;
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59) return std::nullopt;
    offset_s = (text[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::int64_t seconds = static_cast<std::int64_t>(::timegm(&tm)) - offset_s;
  return seconds * 1000000000 + frac_ns;
}

std::optional<test_file> load_test_file(const std::string& path, const pipeline::registry& types,
                                        const std::vector<std::string>& overrides, std::ostream& err) {
  std::vector<diagnostic> problems;
  auto report = [&]() -> std::optional<test_file> {
    for (auto& d : problems) err << d.to_string() << "\n";
    err << "sluice: " << path << ": " << problems.size() << " problem" << (problems.size() == 1 ? "" : "s") << "\n";
    return std::nullopt;
  };
  pipeline::document_result read = pipeline::read_document(path);
  if (!read) {
    problems = read.diagnostics();
    return report();
  }
  const json_document& doc = *read;
  test_file_checker c(doc, problems);
  const ojson& root = doc.value();
  if (!root.is_object()) {
    c.problem("", "not an object", "{\"pipeline\": \"FILE\", \"tests\": [...]}");
    return report();
  }
  c.only(root, "", {"pipeline", "set", "start", "tests"});
  test_file file;
  file.path = path;
  if (!root.contains("pipeline") || !root["pipeline"].is_string() || root["pipeline"].get<std::string>().empty()) {
    c.problem(root.contains("pipeline") ? "/pipeline" : "", root.contains("pipeline") ? "not a file name" : "no \"pipeline\"",
              "the pipeline file, relative to this file");
  }
  if (!root.contains("tests") || !root["tests"].is_array() || root["tests"].empty()) {
    c.problem(root.contains("tests") ? "/tests" : "", root.contains("tests") ? "not a list of tests" : "no \"tests\"",
              "[{\"name\": ..., \"steps\": [...], \"expect\": {...}}, ...]");
  }
  std::vector<std::string> file_set;
  if (root.contains("set")) file_set = assignments(c, root["set"], "/set");
  auto start = std::chrono::system_clock::time_point(std::chrono::seconds(default_start_s));
  if (root.contains("start")) start = start_of(c, root["start"], "/start").value_or(start);
  if (!problems.empty()) return report();

  const std::filesystem::path pipeline_name = root["pipeline"].get<std::string>();
  file.pipeline_path = (pipeline_name.is_absolute() ? pipeline_name : std::filesystem::path(path).parent_path() / pipeline_name).string();
  std::set<std::string> names;
  bool pipeline_bad = false;
  for (std::size_t i = 0; i < root["tests"].size(); ++i) {
    const ojson& t = root["tests"][i];
    const std::string at = "/tests/" + std::to_string(i);
    if (!t.is_object()) {
      c.problem(at, "not an object", "{\"name\": ..., \"steps\": [...], \"expect\": {...}}");
      continue;
    }
    c.only(t, at, {"name", "set", "start", "steps", "expect"});
    test_case tc;
    tc.pointer = at;
    tc.start = start;
    if (!t.contains("name") || !t["name"].is_string() || t["name"].get<std::string>().empty()) {
      c.problem(t.contains("name") ? at + "/name" : at, "no name", "\"name\": what the case shows");
    } else {
      tc.name = t["name"].get<std::string>();
      if (!names.insert(tc.name).second) c.problem(at + "/name", "a second test named \"" + tc.name + "\"", "a name of its own");
    }
    std::vector<std::string> set = file_set;
    if (t.contains("set")) {
      auto more = assignments(c, t["set"], at + "/set");
      set.insert(set.end(), more.begin(), more.end());
    }
    set.insert(set.end(), overrides.begin(), overrides.end());
    if (t.contains("start")) tc.start = start_of(c, t["start"], at + "/start").value_or(start);
    auto loaded = pipeline::load_pipeline_file(file.pipeline_path, types, set);
    if (!loaded) {
      if (!pipeline_bad) {  // the same problems for every case: once is enough
        for (auto& d : loaded.diagnostics) err << d.to_string() << "\n";
        err << "sluice: " << file.pipeline_path << " (the pipeline of " << path << ", " << at << "): " << loaded.diagnostics.size()
            << " problem" << (loaded.diagnostics.size() == 1 ? "" : "s") << "\n";
      }
      pipeline_bad = true;
      continue;
    }
    tc.spec = std::move(*loaded.pipeline);
    if (t.contains("steps")) {
      if (!t["steps"].is_array()) {
        c.problem(at + "/steps", "not a list of steps", "[{\"event\": ...}, {\"advance_ms\": N}, {\"expect\": {...}}, ...]");
      } else {
        for (std::size_t k = 0; k < t["steps"].size(); ++k) {
          if (auto s = step_of(c, t["steps"][k], at + "/steps/" + std::to_string(k), tc.spec)) {
            if (s->what == test_step::kind::feed && std::find(tc.fed.begin(), tc.fed.end(), s->source) == tc.fed.end()) {
              tc.fed.push_back(s->source);
            }
            tc.steps.push_back(std::move(*s));
          }
        }
      }
    }
    if (t.contains("expect")) tc.expect = expectations(c, t["expect"], at + "/expect", tc.spec);
    else c.problem(at, "no \"expect\"", "\"expect\": {\"<sink>\": {\"events\": [...]}}");
    file.cases.push_back(std::move(tc));
  }
  if (!problems.empty()) return report();
  if (pipeline_bad) return std::nullopt;
  return file;
}

}  // namespace sluice::app
