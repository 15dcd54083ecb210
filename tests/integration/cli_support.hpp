// tests/integration/cli_support.hpp: running `sluice` from a test, and reading what it printed.
//
// SLUICE_BIN, SLUICE_SOURCE_ROOT, SLUICE_TEST_PLUGIN and SLUICE_SANITIZE come from
// tests/integration/meson.build.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "../support/child_process.hpp"

namespace sluice::testing {

/// The sanitizer the sluice binary was built with ("none" for a plain build): bounds on time and
/// memory are looser under a sanitizer.
inline constexpr std::string_view sanitizer = SLUICE_SANITIZE;
inline constexpr bool sanitized = sanitizer != "none";

/// How long any one sluice command may take before the test kills it and fails.
inline constexpr auto watchdog = 60s;

inline std::filesystem::path source_root() { return SLUICE_SOURCE_ROOT; }
inline std::filesystem::path pipelines_dir() { return source_root() / "pipelines"; }

/// A fresh directory for one test, removed with everything in it at the end.
class temp_dir {
 public:
  temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/sluice-cli-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  /// Writes `text` to `name` in the directory; returns its path.
  std::filesystem::path write(const std::string& name, std::string_view text) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  std::filesystem::path path_;
};

/// The environment every sluice child gets: a minimal PATH, the sanitizers' settings the test
/// runner gave us, SLUICE_DATA pointing at pipelines/data, and `extra` on top.
inline std::map<std::string, std::string> child_env(const std::map<std::string, std::string>& extra = {}) {
  std::map<std::string, std::string> env{{"PATH", "/usr/bin:/bin"},
                                         {"SLUICE_DATA", (pipelines_dir() / "data").string()}};
  for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS", "MSAN_OPTIONS",
                           "LD_LIBRARY_PATH", "TMPDIR"}) {
    if (const char* v = std::getenv(name)) env[name] = v;
  }
  for (auto& [k, v] : extra) env[k] = v;
  return env;
}

/// One sluice invocation.
struct invocation {
  invocation(std::vector<std::string> a, std::map<std::string, std::string> e = child_env())
      : args(std::move(a)), env(std::move(e)) {}

  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::filesystem::path cwd;  ///< empty: the temp dir
  std::filesystem::path stdin_file = "/dev/null";
  int stdin_fd = -1;  ///< if >= 0, standard input instead of stdin_file (e.g. a pipe's read end)
};

/// What a finished sluice command did.
struct run_result {
  exit_status status;
  bool timed_out = false;
  std::string out;
  std::string err;
  std::chrono::duration<double> elapsed{};

  /// The exit code (-1 if killed), for CHECK(r.code() == 2).
  [[nodiscard]] int code() const noexcept { return status.exited ? status.code : -1; }
};

/// Everything sluice printed, for failure messages.
inline std::string describe(const run_result& r) {
  return r.status.to_string() + (r.timed_out ? " (killed by the watchdog)" : "") + "\n--- stdout\n" +
         r.out.substr(0, 4000) + "\n--- stderr\n" + r.err.substr(0, 4000);
}

/// Starts sluice in `dir` (its stdout and stderr go to numbered files there).
inline child_process start_sluice(const temp_dir& dir, const invocation& what) {
  static int serial = 0;
  const std::string n = std::to_string(++serial);
  child_spec spec;
  spec.program = SLUICE_BIN;
  spec.args = what.args;
  spec.env = what.env;
  spec.cwd = what.cwd.empty() ? dir.path() : what.cwd;
  spec.stdin_file = what.stdin_file;
  spec.stdin_fd = what.stdin_fd;
  spec.stdout_file = dir / ("sluice-" + n + ".out");
  spec.stderr_file = dir / ("sluice-" + n + ".err");
  return child_process(std::move(spec));
}

/// Runs sluice to its end (killed after `watchdog`).
inline run_result run_sluice(const temp_dir& dir, const invocation& what) {
  const auto started = test_clock::now();
  child_process child = start_sluice(dir, what);
  run_result r;
  r.status = child.wait_or_kill(watchdog);
  r.elapsed = test_clock::now() - started;
  r.timed_out = child.timed_out();
  r.out = child.out();
  r.err = child.err();
  return r;
}

/// The lines of `text` (a final line without '\n' counts too).
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

inline bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

/// The line of `text` that starts with `prefix` ("" if none).
inline std::string line_starting(const std::string& text, const std::string& prefix) {
  for (auto& line : lines_of(text)) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return {};
}

/// "line:col" (1-based) of byte `at` of `text` (ASCII text: a column is a byte).
inline std::string line_col(std::string_view text, std::size_t at) {
  const auto newline = at == 0 ? std::string_view::npos : text.rfind('\n', at - 1);
  const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
  const auto column = newline == std::string_view::npos ? at + 1 : at - newline;
  return std::to_string(line) + ":" + std::to_string(column);
}

/// "line:col" of the first `needle` in `text`, or "?:?": lets a test say where a diagnostic must
/// point without counting columns by hand.
inline std::string position_of(std::string_view text, std::string_view needle) {
  const auto at = text.find(needle);
  return at == std::string_view::npos ? "?:?" : line_col(text, at);
}

/// "line:col" of the first `needle` after the first `after` (e.g. the `2` after `"version": `).
inline std::string position_of(std::string_view text, std::string_view after, std::string_view needle) {
  const auto from = text.find(after);
  const auto at = from == std::string_view::npos ? from : text.find(needle, from + after.size());
  return at == std::string_view::npos ? "?:?" : line_col(text, at);
}

/// One row of the summary `sluice run` prints on stderr at the end.
struct summary_row {
  std::string type;
  std::size_t copies = 1;
  std::optional<std::uint64_t> in;   ///< none for a source ("-")
  std::optional<std::uint64_t> out;  ///< none for a sink ("-")
  std::uint64_t dropped = 0;
  std::uint64_t skipped = 0;
  std::uint64_t retried = 0;
  std::uint64_t dead_letters = 0;
  std::uint64_t restarts = 0;
  std::optional<double> wall_seconds;  ///< the stage's own wall time
};

/// A summary: its rows by stage name, and the wall time it reports.
struct summary {
  std::map<std::string, summary_row> stages;
  std::optional<double> wall_seconds;

  /// The row of `stage`; an empty row (type "") if the summary has none.
  [[nodiscard]] summary_row operator[](const std::string& stage) const {
    auto it = stages.find(stage);
    return it == stages.end() ? summary_row{} : it->second;
  }
};

/// Reads the summary from sluice's stderr: the table after the `stage type in out ...` header
/// (rows `name [xN] type in out dropped skipped retried dead_letters restarts wall`), up to
/// `wall time: X s`.
inline summary parse_summary(const std::string& err) {
  summary s;
  bool in_table = false;
  auto number = [](const std::string& field) -> std::optional<std::uint64_t> {
    if (field == "-") return std::nullopt;
    return std::stoull(field);
  };
  for (const std::string& line : lines_of(err)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    if (f.size() == 10 && f[0] == "stage" && f[1] == "type" && f[2] == "in" && f[9] == "wall") {
      in_table = true;
      continue;
    }
    if (line.rfind("wall time: ", 0) == 0) {
      s.wall_seconds = std::stod(line.substr(11));
      in_table = false;
      continue;
    }
    if (!in_table || (f.size() != 10 && f.size() != 11)) continue;
    summary_row row;
    std::size_t i = 1;
    if (f.size() == 11) row.copies = std::stoull(f[i++].substr(1));  // "name xN type ..."
    row.type = f[i++];
    row.in = number(f[i++]);
    row.out = number(f[i++]);
    row.dropped = std::stoull(f[i++]);
    row.skipped = std::stoull(f[i++]);
    row.retried = std::stoull(f[i++]);
    row.dead_letters = std::stoull(f[i++]);
    row.restarts = std::stoull(f[i++]);
    if (f[i].size() > 1 && f[i].back() == 's') row.wall_seconds = std::stod(f[i].substr(0, f[i].size() - 1));  // "0.123s"
    s.stages[f[0]] = row;
  }
  return s;
}

/// Each line of a JSON-lines text, parsed; a line that is not JSON becomes a discarded value.
inline std::vector<nlohmann::json> jsonl(const std::string& text) {
  std::vector<nlohmann::json> out;
  for (auto& line : lines_of(text)) out.push_back(nlohmann::json::parse(line, nullptr, false));
  return out;
}

}  // namespace sluice::testing
