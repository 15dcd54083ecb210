// sluice-bench/cli_peers.cpp: the peers' command lines.
//
// Miller reads and writes JSON lines with --ijsonl --ojsonl; `cut -o` keeps the fields in the
// order given, as jq's object construction does. Its output has spaces after colons and commas,
// and gojq sorts keys: the output check compares values, not bytes, so both pass as they are.
#include "cli_peers.hpp"

#include "child_process.hpp"

namespace sluice::bench {

namespace {

/// The Debian package holding `program`.
std::string package_of(const std::string& program) { return program == "mlr" ? "miller" : program; }

peer jq_cli(std::string filter) { return {"jq_cli", "jq", {"-c", std::move(filter)}}; }
peer gojq(std::string filter) { return {"gojq", "gojq", {"-c", std::move(filter)}}; }
peer miller(std::vector<std::string> verbs) {
  std::vector<std::string> args{"--ijsonl", "--ojsonl"};
  args.insert(args.end(), verbs.begin(), verbs.end());
  return {"miller", "mlr", std::move(args)};
}

}  // namespace

std::vector<peer> filter_project_peers() {
  return {jq_cli(error_filter), gojq(error_filter),
          miller({"filter", "$level == \"error\"", "then", "cut", "-o", "-f", "id,msg"})};
}

std::vector<peer> passthrough_peers() { return {jq_cli("."), gojq("."), miller({"cat"})}; }

std::vector<peer> projection_peers() {
  return {jq_cli(projection_filter), gojq(projection_filter), miller({"cut", "-o", "-f", "id,host,level"})};
}

std::filesystem::path find_peer(const peer& p) { return find_program(p.program); }

std::string peer_missing(const peer& p) {
  if (!find_peer(p).empty()) return {};
  return "no `" + p.program + "` in PATH to compare with (Debian package " + package_of(p.program) +
         "; scripts/bench-deps installs it)";
}

}  // namespace sluice::bench
