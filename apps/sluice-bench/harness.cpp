// sluice-bench/harness.cpp: runs, failures and statistics.
#include "harness.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <ostream>

namespace sluice::bench {

namespace {

/// What one system of a scenario produced so far: one value per successful run, per metric.
struct samples {
  std::map<std::string, std::vector<double>> by_metric;
  bool stopped = false;  ///< a run failed, or the system is unavailable: no more runs
};

/// The names of the metrics `sys` must report: its own list, or all of the scenario's.
std::vector<std::string> expected_metrics(const scenario& sc, const system_run& sys) {
  if (!sys.reports.empty()) return sys.reports;
  std::vector<std::string> names;
  for (const metric& m : sc.metrics) names.push_back(m.name);
  return names;
}

/// Empty when `m` holds exactly the metrics `sys` of `sc` must report, else what is wrong.
std::string check_metrics(const scenario& sc, const system_run& sys, const measurements& m) {
  const std::vector<std::string> expected = expected_metrics(sc, sys);
  for (const std::string& want : expected) {
    if (!m.contains(want)) return "did not report metric '" + want + "'";
  }
  for (const auto& [name, value] : m) {
    if (std::find(expected.begin(), expected.end(), name) == expected.end()) {
      return "reported undeclared metric '" + name + "'";
    }
  }
  return {};
}

/// `name=value ...` for a progress line.
std::string describe(const measurements& m) {
  std::string text;
  for (const auto& [name, value] : m) {
    if (!text.empty()) text += ' ';
    text += name + '=' + std::to_string(value);
  }
  return text;
}

/// Performs run `run` of `sys` and files its values in `into`, or a failure in `rep`.
void run_once(const scenario& sc, const system_run& sys, unsigned run, unsigned runs, samples& into,
              report& rep, std::ostream& progress) {
  const std::string label = sc.name + '/' + sys.system + " run " + std::to_string(run) + '/' +
                            std::to_string(runs);
  progress << label << ": " << std::flush;
  std::string error;
  measurements m;
  const auto start = std::chrono::steady_clock::now();
  try {
    m = sys.run();
    error = check_metrics(sc, sys, m);
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown exception";
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  if (!error.empty()) {
    progress << "FAILED: " << error << std::endl;
    rep.failures.push_back({sc.name, sys.system, run, error});
    into.stopped = true;
    return;
  }
  progress << describe(m) << " (" << took.count() << " s)" << std::endl;
  for (const auto& [name, value] : m) into.by_metric[name].push_back(value);
}

/// Files a skip in `rep` for each system of `sc` that cannot run here, and stops it in `per_system`.
void skip_unavailable(const scenario& sc, std::vector<samples>& per_system, report& rep, std::ostream& progress) {
  for (std::size_t i = 0; i < sc.systems.size(); ++i) {
    const system_run& sys = sc.systems[i];
    std::string why = sys.unavailable ? sys.unavailable() : std::string();
    if (why.empty()) continue;
    progress << sc.name << '/' << sys.system << ": SKIPPED: " << why << std::endl;
    rep.skipped.push_back({sc.name, sys.system, std::move(why)});
    per_system[i].stopped = true;
  }
}

/// Adds the summaries of one scenario to `rep`, grouped by metric, systems in scenario order.
void file_results(const scenario& sc, const std::vector<samples>& per_system, report& rep) {
  for (const metric& mt : sc.metrics) {
    for (std::size_t i = 0; i < sc.systems.size(); ++i) {
      const auto it = per_system[i].by_metric.find(mt.name);
      if (it == per_system[i].by_metric.end() || it->second.empty()) continue;
      rep.results.push_back({sc.name, sc.systems[i].system, mt, summarise(it->second)});
    }
  }
}

}  // namespace

summary summarise(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {median, values.front(), values.back(), static_cast<unsigned>(n)};
}

report run_scenarios(const std::vector<scenario>& selected, unsigned runs, std::ostream& progress) {
  report rep;
  for (const scenario& sc : selected) {
    if (std::string why = sc.unavailable ? sc.unavailable() : std::string(); !why.empty()) {
      progress << sc.name << ": SKIPPED: " << why << std::endl;
      rep.skipped.push_back({sc.name, "", std::move(why)});
      continue;
    }
    std::vector<samples> per_system(sc.systems.size());
    skip_unavailable(sc, per_system, rep, progress);
    for (unsigned run = 1; run <= runs; ++run) {
      for (std::size_t i = 0; i < sc.systems.size(); ++i) {
        if (per_system[i].stopped) continue;
        run_once(sc, sc.systems[i], run, runs, per_system[i], rep, progress);
      }
    }
    file_results(sc, per_system, rep);
  }
  return rep;
}

const result* find_result(const report& rep, const result& r, std::string_view system) {
  for (const result& other : rep.results) {
    if (other.scenario == r.scenario && other.measured.name == r.measured.name &&
        other.system == system) {
      return &other;
    }
  }
  return nullptr;
}

}  // namespace sluice::bench
