// sluice-bench/cli_sluice.hpp: what the cli_* scenarios share to run the `sluice` binary: pipeline
// documents, writing them, running `sluice run` as a timed child and reading its summary.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "child_process.hpp"

namespace sluice::bench {

/// How long one child (sluice or a peer) may run before it is killed and its run fails.
inline constexpr std::chrono::seconds child_deadline{120};

/// A version 1 pipeline document named `name` with `stages` (an object keyed by stage name).
nlohmann::ordered_json pipeline(std::string_view name, nlohmann::ordered_json stages);

/// Writes `doc` to `p`; throws std::runtime_error if it cannot.
void write_file(const std::filesystem::path& p, const nlohmann::ordered_json& doc);

/// The child `sluice run PIPELINE` with the binary `sluice`, its summary (standard error) kept in
/// `summary`. Throws std::runtime_error if there is no such binary, saying how to build one.
child_spec sluice_run(const std::string& sluice, const std::filesystem::path& pipeline,
                      const std::filesystem::path& summary);

/// The wall and CPU times of sluice_run(sluice, pipeline, summary); throws as that does, or if
/// the run fails (run_timed).
child_times time_sluice_run(const std::string& sluice, const std::filesystem::path& pipeline,
                            const std::filesystem::path& summary);

/// The `in` column of stage `stage` in the summary `sluice run` printed to `summary`; throws if
/// the summary has no such row.
std::int64_t events_in(const std::filesystem::path& summary, const std::string& stage);

}  // namespace sluice::bench
