// sluice-bench/report.cpp: table layout and JSON form of a report.
#include "report.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <vector>

namespace sluice::bench {

namespace {

using row = std::vector<std::string>;

/// The column that compares sluice with this row's system.
std::string ratio_cell(const report& rep, const result& r) {
  if (r.system == reference_system) return "-";
  const result* ref = find_result(rep, r, reference_system);
  if (ref == nullptr) return "n/a";
  if (r.stats.median == 0) return "inf";
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", ref->stats.median / r.stats.median);
  return text;
}

row header() {
  return {"scenario", "metric", "system", "median", "min", "max", "runs",
          std::string(reference_system) + "/system", "better"};
}

row table_row(const report& rep, const result& r) {
  return {r.scenario,
          r.measured.name,
          r.system,
          format_value(r.stats.median),
          format_value(r.stats.min),
          format_value(r.stats.max),
          std::to_string(r.stats.runs),
          ratio_cell(rep, r),
          to_string(r.measured.direction)};
}

/// Prints `rows` as left-aligned columns separated by two spaces.
void print_rows(std::ostream& out, const std::vector<row>& rows) {
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const row& r : rows) {
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  for (const row& r : rows) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size()) line.append(width[c] - r[c].size() + 2, ' ');
    }
    out << line << '\n';
  }
}

void print_failures(std::ostream& out, const report& rep) {
  for (const failure& f : rep.failures) {
    out << "FAILED " << f.scenario << '/' << f.system << " run " << f.run << ": " << f.what << '\n';
  }
  for (const skip& s : rep.skipped) {
    out << "SKIPPED " << s.scenario << (s.system.empty() ? "" : "/" + s.system) << ": " << s.why << '\n';
  }
}

}  // namespace

std::string format_value(double v) {
  static constexpr std::array<std::pair<double, const char*>, 3> scales{
      {{1e9, "G"}, {1e6, "M"}, {1e3, "k"}}};
  char text[48];
  for (const auto& [scale, suffix] : scales) {
    if (std::fabs(v) >= scale) {
      std::snprintf(text, sizeof text, "%.3g%s", v / scale, suffix);
      return text;
    }
  }
  std::snprintf(text, sizeof text, "%.4g", v);
  return text;
}

void print_table(std::ostream& out, const report& rep) {
  std::vector<row> rows{header()};
  for (const result& r : rep.results) rows.push_back(table_row(rep, r));
  print_rows(out, rows);
  print_failures(out, rep);
  out << std::flush;
}

nlohmann::ordered_json to_json(const report& rep, const machine_info& machine) {
  nlohmann::ordered_json doc;
  doc["machine"] = {{"cores", machine.cores},           {"model", machine.model},
                    {"kernel", machine.kernel},         {"compiler", machine.compiler},
                    {"build_type", machine.build_type}, {"date", machine.date}};
  doc["results"] = nlohmann::ordered_json::array();
  for (const result& r : rep.results) {
    doc["results"].push_back({{"scenario", r.scenario},
                              {"system", r.system},
                              {"metric", r.measured.name},
                              {"median", r.stats.median},
                              {"min", r.stats.min},
                              {"max", r.stats.max},
                              {"runs", r.stats.runs}});
  }
  for (const failure& f : rep.failures) {
    doc["failures"].push_back(
        {{"scenario", f.scenario}, {"system", f.system}, {"run", f.run}, {"what", f.what}});
  }
  for (const skip& s : rep.skipped) {
    nlohmann::ordered_json entry{{"scenario", s.scenario}};
    if (!s.system.empty()) entry["system"] = s.system;
    entry["why"] = s.why;
    doc["skipped"].push_back(std::move(entry));
  }
  return doc;
}

}  // namespace sluice::bench
