// apps/sluice/main.cpp: the sluice command line. Thin: each command lives in its own file.
#include <cstring>
#include <iostream>
#include <string_view>

#include "demo.hpp"

namespace {

constexpr std::string_view usage =
    "usage: sluice <command>\n"
    "\n"
    "commands:\n"
    "  demo    run processes under a supervisor and narrate what happens\n"
    "  help    show this text\n";

}  // namespace

int main(int argc, char** argv) {
  const std::string_view command = argc > 1 ? argv[1] : "help";
  if (command == "demo") return sluice::app::run_demo(std::cout);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << usage;
    return 0;
  }
  std::cerr << "sluice: unknown command '" << command << "'\n\n" << usage;
  return 2;
}
