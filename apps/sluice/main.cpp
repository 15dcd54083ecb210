// apps/sluice/main.cpp: the sluice command line. Thin: each command lives in its own file.
#include <csignal>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "demo.hpp"

namespace {

constexpr std::string_view usage =
    "usage: sluice <command> [arguments]\n"
    "\n"
    "commands:\n"
    "  run FILE [--set path=value]... [--stats] [--plugin lib.so]... [--threads N]\n"
    "                 run a pipeline until its sources are exhausted and every event reached its sinks;\n"
    "                 SIGINT/SIGTERM drain it (a second signal stops at once, exit 130)\n"
    "  check FILE [--set path=value]... [--plugin lib.so]...\n"
    "                 validate a pipeline file and report every problem\n"
    "  graph FILE [--format dot|mermaid]\n"
    "                 print the pipeline's graph\n"
    "  stages [--json] [--plugin lib.so]...\n"
    "                 list the stage types and their options\n"
    "  schema [--plugin lib.so]...\n"
    "                 print the JSON Schema of a pipeline file\n"
    "  demo           run processes under a supervisor and narrate what happens\n"
    "  help           show this text\n"
    "\n"
    "exit codes: 0 success, 1 runtime failure, 2 usage or configuration error\n";

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed reader is an EPIPE the stdout sink handles, not a death
  std::signal(SIGXFSZ, SIG_IGN);  // a file size limit is an EFBIG the file sink reports
  const std::string command = argc > 1 ? argv[1] : "help";
  const std::vector<std::string> args(argv + std::min(argc, 2), argv + argc);
  using namespace sluice::app;
  if (command == "run") return run_command(args, std::cout, std::cerr);
  if (command == "check") return check_command(args, std::cout, std::cerr);
  if (command == "graph") return graph_command(args, std::cout, std::cerr);
  if (command == "stages") return stages_command(args, std::cout, std::cerr);
  if (command == "schema") return schema_command(args, std::cout, std::cerr);
  if (command == "demo") return run_demo(std::cout);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << usage;
    return exit_ok;
  }
  std::cerr << "sluice: unknown command '" << command << "'\n\n" << usage;
  return exit_usage;
}
