// sluice-bench/cli_peers.hpp: the programs our users would run instead of sluice on a JSON-lines
// file (Debian's jq 1.6, gojq, Miller), and their command lines for each cli_* JSON workload.
//
// Each peer reads the log named as its last argument and writes JSON lines to standard output; a
// peer that is not installed is skipped with a note (scripts/bench-deps installs them all).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace sluice::bench {

/// A peer program and its arguments for one workload.
struct peer {
  std::string system;             ///< its name in the report: "jq_cli", "gojq", "miller"
  std::string program;            ///< looked up in $PATH: "jq", "gojq", "mlr"
  std::vector<std::string> args;  ///< before the input file's path
};

/// `select(.level == "error") | {id, msg}`: `jq -c`, `gojq -c`, and Miller's
/// `filter '$level == "error"' then cut -o -f id,msg`.
std::vector<peer> filter_project_peers();

/// Every line parsed and written back: `jq -c .`, `gojq -c .`, `mlr cat`.
std::vector<peer> passthrough_peers();

/// `{id, host, level}` of every line: `jq -c`, `gojq -c`, and Miller's `cut -o -f id,host,level`.
std::vector<peer> projection_peers();

/// The jq program cli_jq runs, in sluice and in the jq peers.
inline constexpr const char* error_filter = R"(select(.level == "error") | {id, msg})";

/// The jq program cli_partition runs, in sluice and in the jq peers.
inline constexpr const char* projection_filter = "{id, host, level}";

/// The peer's program in $PATH; empty if it is not installed.
std::filesystem::path find_peer(const peer& p);

/// Why `p` cannot run here ("no `gojq` in PATH ..."), or empty when it can.
std::string peer_missing(const peer& p);

}  // namespace sluice::bench
