// `sluice test FILE...`: the test cases beside a pipeline, run on a virtual clock (README "sluice test").
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "options.hpp"
#include "test_file.hpp"
#include "test_run.hpp"
#include "usage.hpp"

namespace sluice::app {

namespace {

struct test_options {
  std::vector<std::string> files;
  std::vector<std::string> overrides;
  std::vector<std::string> plugins;
  bool help = false;
};

std::optional<test_options> parse_test_options(const std::vector<std::string>& args, std::ostream& err) {
  test_options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      o.help = true;
    } else if (a == "--set" || a == "--plugin") {
      if (i + 1 >= args.size()) {
        err << "sluice: " << a << " needs a value\n";
        return std::nullopt;
      }
      (a == "--set" ? o.overrides : o.plugins).push_back(args[++i]);
    } else if (!a.empty() && a[0] == '-') {
      err << "sluice: unknown option '" << a << "'\n";
      return std::nullopt;
    } else {
      o.files.push_back(a);
    }
  }
  if (o.files.empty() && !o.help) {
    err << "sluice: no test file given\n";
    return std::nullopt;
  }
  return o;
}

}  // namespace

int test_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto o = parse_test_options(args, err);
  if (!o) {
    err << "sluice: see `sluice test --help`\n";
    return exit_usage;
  }
  if (o->help) return print_help("test", out);
  pipeline::registry types;
  if (!fill_registry(types, o->plugins, err)) return exit_usage;
  // Every file is read and checked before any case runs: a bad file runs nothing.
  std::vector<test_file> files;
  bool bad = false;
  for (const std::string& path : o->files) {
    auto f = load_test_file(path, types, o->overrides, err);
    if (f) files.push_back(std::move(*f));
    else bad = true;
  }
  if (bad) return exit_usage;
  std::size_t passed = 0, failed = 0;
  for (const test_file& f : files) {
    for (const test_case& tc : f.cases) {
      const case_report r = run_test_case(tc);
      out << (r.passed ? "ok      " : "FAILED  ") << f.path << ": " << tc.name << "\n";
      if (!r.passed) out << r.details;
      out << std::flush;
      (r.passed ? passed : failed) += 1;
    }
  }
  out << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? exit_ok : exit_failure;
}

}  // namespace sluice::app
