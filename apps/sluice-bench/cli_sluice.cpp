// sluice-bench/cli_sluice.cpp: pipeline files and `sluice run` as a timed child.
#include "cli_sluice.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sluice::bench {

nlohmann::ordered_json pipeline(std::string_view name, nlohmann::ordered_json stages) {
  return {{"version", 1}, {"name", name}, {"stages", std::move(stages)}};
}

void write_file(const std::filesystem::path& p, const nlohmann::ordered_json& doc) {
  std::ofstream file(p);
  file << doc.dump(2) << '\n';
  file.close();
  if (!file) throw std::runtime_error("cannot write " + p.string());
}

child_spec sluice_run(const std::string& sluice, const std::filesystem::path& pipeline,
                      const std::filesystem::path& summary) {
  if (!std::filesystem::is_regular_file(sluice)) {
    throw std::runtime_error("no sluice binary at '" + sluice +
                             "': build it (ninja -C build apps/sluice/sluice) or pass --sluice PATH");
  }
  return {sluice, {"run", pipeline.string()}, "/dev/null", summary};
}

child_times time_sluice_run(const std::string& sluice, const std::filesystem::path& pipeline,
                            const std::filesystem::path& summary) {
  return run_timed(sluice_run(sluice, pipeline, summary), child_deadline);
}

std::int64_t events_in(const std::filesystem::path& summary, const std::string& stage) {
  std::ifstream in(summary);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    std::string type;
    std::int64_t count = -1;
    if (fields >> name >> type >> count && name == stage) return count;
  }
  throw std::runtime_error("no row for stage '" + stage + "' in sluice's summary " + summary.string());
}

}  // namespace sluice::bench
