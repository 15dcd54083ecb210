#include "usage.hpp"

#include <array>

#include "commands.hpp"
#include "options.hpp"

#ifndef SLUICE_VERSION
#error "SLUICE_VERSION comes from apps/sluice/meson.build (meson's project version)"
#endif

namespace sluice::app {

namespace {

struct command_text {
  std::string_view name;
  std::string_view synopsis;  ///< after "sluice NAME"
  std::string_view what;
};

std::string threads_text() {
  return "--threads N (" + std::to_string(threads_range.minimum) + " to " + std::to_string(threads_range.maximum) +
         "; default: one per core)";
}

const std::array<command_text, 8>& commands() {
  static const std::array<command_text, 8> texts{{
      {"run", "FILE [--set path=value]... [--stats] [--plugin lib.so]... [--threads N] [--drain-timeout S]\n"
              "           [--http HOST:PORT] [--stall-timeout S] [--log-format text|json]",
       "run a pipeline until its sources are exhausted and every event reached its sinks;\n"
       "SIGINT/SIGTERM drain it (exit 0; before it has started: nothing runs, exit 0),\n"
       "a second signal stops at once (exit 130); a drain still running after S seconds\n"
       "(0 to 86400, default 60, 0: no limit) stops, naming the stages still running (exit 1);\n"
       "--http serves /metrics, /livez, /readyz, /api/pipeline and a live view at /\n"
       "(port 0: any free one, printed); a stage without progress for --stall-timeout\n"
       "seconds (0.2 to 86400, default 30) while work waits for it is logged as stalled;\n"
       "environment: SLUICE_HTTP, SLUICE_STALL_TIMEOUT, SLUICE_LOG_FORMAT,\n"
       "SLUICE_DRAIN_TIMEOUT, SLUICE_THREADS (a flag wins over its variable)"},
      {"check", "FILE [--set path=value]... [--plugin lib.so]...", "validate a pipeline file and report every problem"},
      {"graph", "FILE [--set path=value]... [--plugin lib.so]... [--format dot|mermaid]", "print the pipeline's graph"},
      {"test", "FILE... [--set path=value]... [--plugin lib.so]...",
       "run the test cases of each test file (JSON: the pipeline, then cases of events fed\n"
       "to sources, `advance_ms` steps and the events expected at sinks) on a virtual\n"
       "clock: timers fire, in order, only as a step advances it, taking no real time;\n"
       "prints a diff per failure and `N passed, N failed`; exit 0 if all pass, 1 if a\n"
       "case failed, 2 for a bad test file"},
      {"stages", "[--json] [--plugin lib.so]...", "list the stage types and their options"},
      {"schema", "[--plugin lib.so]...", "print the JSON Schema of a pipeline file"},
      {"top", "[URL] [--interval MS] [--sort COLUMN] [--desc] [--filter REGEX] [--plain] [--count N]",
       "the figures of a `sluice run --http` (URL default $SLUICE_HTTP, else\n"
       "127.0.0.1:8464) in the terminal, a row per stage, refreshed every MS (100 to\n"
       "60000, default 1000); keys 1-9 sort, r reverses, q quits; --plain (automatic\n"
       "when standard output is not a terminal) prints a table per refresh, N times"},
      {"demo", "", "run processes under a supervisor and narrate what happens"},
  }};
  return texts;
}

/// `text` with every line indented by `indent` spaces.
std::string indented(std::string_view text, std::size_t indent) {
  std::string out(indent, ' ');
  for (char c : text) {
    out += c;
    if (c == '\n') out.append(indent, ' ');
  }
  return out + "\n";
}

}  // namespace

std::string command_usage(std::string_view command) {
  for (const auto& c : commands()) {
    if (c.name != command) continue;
    std::string text = "usage: sluice " + std::string(c.name) + (c.synopsis.empty() ? "" : " ") + std::string(c.synopsis) + "\n" +
                       indented(c.what, 2);
    if (c.name == "run") text += "  " + threads_text() + ": scheduler threads\n";
    return text;
  }
  return {};
}

std::string usage() {
  std::string text = "usage: sluice <command> [arguments]\n       sluice --version\n\ncommands:\n";
  for (const auto& c : commands()) {
    text += "  " + std::string(c.name) + (c.synopsis.empty() ? "" : " " + std::string(c.synopsis)) + "\n";
    text += indented(c.what, 17);
  }
  text += "  help           show this text (sluice COMMAND --help: that command's)\n"
          "\nexit codes: 0 success, 1 runtime failure, 2 usage or configuration error\n";
  return text;
}

int print_help(std::string_view command, std::ostream& out) {
  out << command_usage(command);
  return exit_ok;
}

std::string version_line() { return std::string("sluice ") + SLUICE_VERSION; }

}  // namespace sluice::app
