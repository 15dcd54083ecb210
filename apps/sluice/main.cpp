// apps/sluice/main.cpp: the sluice command line. Thin: each command lives in its own file.
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "demo.hpp"
#include "usage.hpp"

int main(int argc, char** argv) {
  sluice::app::block_stop_signals();  // first of all: every thread inherits the mask (see run.cpp)
  std::signal(SIGPIPE, SIG_IGN);  // a closed reader is an EPIPE the stdout sink handles, not a death
  std::signal(SIGXFSZ, SIG_IGN);  // a file size limit is an EFBIG the file sink reports

  const std::string command = argc > 1 ? argv[1] : "help";
  const std::vector<std::string> args(argv + std::min(argc, 2), argv + argc);
  using namespace sluice::app;
  // Only run drains on a signal; every other command ends on SIGINT/SIGTERM as programs do.
  if (command != "run") unblock_stop_signals();
  if (command == "run") return run_command(args, std::cout, std::cerr);
  if (command == "check") return check_command(args, std::cout, std::cerr);
  if (command == "graph") return graph_command(args, std::cout, std::cerr);
  if (command == "stages") return stages_command(args, std::cout, std::cerr);
  if (command == "schema") return schema_command(args, std::cout, std::cerr);
  if (command == "test") return test_command(args, std::cout, std::cerr);
  if (command == "top") return top_command(args, std::cout, std::cerr);
  if (command == "demo") {
    const bool help = !args.empty() && (args[0] == "--help" || args[0] == "-h");
    return help ? print_help("demo", std::cout) : run_demo(std::cout);
  }
  if (command == "--version" || command == "version") {
    std::cout << version_line() << "\n";
    return exit_ok;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << (args.empty() || command_usage(args[0]).empty() ? usage() : command_usage(args[0]));
    return exit_ok;
  }
  std::cerr << "sluice: unknown command '" << command << "'\n\n" << usage();
  return exit_usage;
}
