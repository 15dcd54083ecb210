// What a sink received against a `sluice test` expectation, and the diff when they differ.
#include <algorithm>
#include <map>
#include <variant>

#include <sluice/stages/jq_program.hpp>

#include "test_run.hpp"

namespace sluice::app {

namespace {

using nlohmann::json;

/// Events shown at most in one list of a failure (the rest are counted).
constexpr std::size_t shown = 50;

std::string line(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

/// A unified-style diff of two sequences of lines: longest common subsequence, unchanged lines
/// with two spaces, removed (expected only) with "- ", added (got only) with "+ ".
std::string ordered_diff(const std::vector<std::string>& want, const std::vector<std::string>& got) {
  const std::size_t n = want.size(), m = got.size();
  std::string out;
  if (n * m > 4'000'000) {  // too large for the table: list both
    for (std::size_t i = 0; i < std::min(n, shown); ++i) out += "    - " + want[i] + "\n";
    for (std::size_t j = 0; j < std::min(m, shown); ++j) out += "    + " + got[j] + "\n";
    return out;
  }
  std::vector<std::vector<std::uint32_t>> lcs(n + 1, std::vector<std::uint32_t>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;) {
    for (std::size_t j = m; j-- > 0;) {
      lcs[i][j] = want[i] == got[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::size_t i = 0, j = 0, lines = 0;
  auto emit = [&](const char* mark, const std::string& text) {
    if (lines++ < 4 * shown) out += std::string("    ") + mark + text + "\n";
  };
  while (i < n || j < m) {
    if (i < n && j < m && want[i] == got[j]) {
      emit("  ", want[i]);
      ++i, ++j;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      emit("- ", want[i++]);  // a change reads as its removal, then its addition
    } else {
      emit("+ ", got[j++]);
    }
  }
  if (lines > 4 * shown) out += "    ... (" + std::to_string(lines - 4 * shown) + " more lines)\n";
  return out;
}

/// Missing (expected, not got) and unexpected (got, not expected) events, as multisets.
std::string unordered_diff(const std::vector<std::string>& want, const std::vector<std::string>& got) {
  std::map<std::string, long> count;
  for (auto& w : want) ++count[w];
  for (auto& g : got) --count[g];
  std::string out;
  for (auto& [text, c] : count) {
    for (long k = 0; k < c; ++k) out += "    - " + text + "\n";
    for (long k = 0; k > c; --k) out += "    + " + text + "\n";
  }
  return out;
}

std::string listed(const std::vector<std::string>& got) {
  std::string out;
  for (std::size_t i = 0; i < std::min(got.size(), shown); ++i) out += "      " + got[i] + "\n";
  if (got.size() > shown) out += "      ... (" + std::to_string(got.size() - shown) + " more)\n";
  return out;
}

/// Why `event` does not satisfy `program` (as `jq -e`: its last output is neither false nor
/// null), or "" when it does.
std::string jq_verdict(stages::jq_program& program, const json& event) {
  std::vector<json> outputs;
  try {
    (void)program.run(event, outputs);
  } catch (const stages::jq_error& e) {
    return std::string("jq error: ") + e.what();
  }
  if (outputs.empty()) return "no output";
  const json& last = outputs.back();
  if (last.is_null() || (last.is_boolean() && !last.get<bool>())) return last.dump();
  return {};
}

}  // namespace

std::string check_sink(const sink_expectation& x, const std::vector<std::string>& got_text) {
  std::vector<json> got;
  got.reserve(got_text.size());
  for (auto& t : got_text) got.push_back(json::parse(t, nullptr, false));
  std::vector<std::string> got_lines;
  for (auto& g : got) got_lines.push_back(line(g));  // canonical: keys sorted, numbers as parsed
  std::string out;
  const std::string who = "sink \"" + x.sink + "\"";
  if (x.events) {
    std::vector<std::string> want;
    for (auto& w : *x.events) want.push_back(line(w));
    bool same = false;
    if (x.unordered) {
      auto a = want, b = got_lines;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      same = a == b;
    } else {
      same = want == got_lines;
    }
    if (!same) {
      out += "  " + who + ": " + std::to_string(want.size()) + " event" + (want.size() == 1 ? "" : "s") + " expected, " +
             std::to_string(got.size()) + " received" + (x.unordered ? " (in any order)" : "") +
             "; - expected, + received:\n";
      out += x.unordered ? unordered_diff(want, got_lines) : ordered_diff(want, got_lines);
    }
  }
  if (x.count && *x.count != got.size()) {
    out += "  " + who + ": " + std::to_string(*x.count) + " event" + (*x.count == 1 ? "" : "s") + " expected, " +
           std::to_string(got.size()) + " received" + (got.empty() ? "\n" : ":\n" + listed(got_lines));
  }
  if (x.jq) {
    auto compiled = stages::jq_program::compile(*x.jq);
    auto& program = std::get<stages::jq_program>(compiled);  // checked when the file was loaded
    std::string failing;
    std::size_t n = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const std::string why = jq_verdict(program, got[i]);
      if (why.empty()) continue;
      if (n++ < shown) failing += "    + " + got_lines[i] + "   (event " + std::to_string(i + 1) + ": " + why + ")\n";
    }
    if (n > shown) failing += "    ... (" + std::to_string(n - shown) + " more)\n";
    if (n > 0) {
      out += "  " + who + ": " + std::to_string(n) + " of " + std::to_string(got.size()) + " events fail `" + *x.jq + "`:\n" + failing;
    }
  }
  return out;
}

}  // namespace sluice::app
