#include "options.hpp"

#include <sluice/stages/builtins.hpp>

#include <algorithm>
#include <charconv>

namespace sluice::app {

namespace {

/// The whole of `text` as an integer in `range`, or nullopt after saying why (stoul would take
/// "-1" as 2^64-1 and "8x" as 8).
std::optional<long long> integer_flag(const char* flag, const std::string& text, flag_range range, std::ostream& err) {
  long long n = 0;
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, n);
  if (ec != std::errc{} || stop != end || n < range.minimum || n > range.maximum) {
    err << "sluice: " << flag << " takes an integer from " << range.minimum << " to " << range.maximum << ", got '" << text
        << "'\n";
    return std::nullopt;
  }
  return n;
}

}  // namespace

namespace {

std::optional<common_options> parse_args(const std::vector<std::string>& args, bool needs_file,
                                         const std::vector<std::string>& allowed, std::ostream& err) {
  common_options o;
  auto allows = [&](const std::string& flag) { return std::find(allowed.begin(), allowed.end(), flag) != allowed.end(); };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* flag) -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        err << "sluice: " << flag << " needs a value\n";
        return std::nullopt;
      }
      return args[++i];
    };
    if (a.rfind("--", 0) == 0 && a != "--help" && !allows(a)) {
      err << "sluice: unknown option '" << a << "'\n";
      return std::nullopt;
    }
    if (a == "--set") {
      auto v = value("--set");
      if (!v) return std::nullopt;
      o.overrides.push_back(*v);
    } else if (a == "--plugin") {
      auto v = value("--plugin");
      if (!v) return std::nullopt;
      o.plugins.push_back(*v);
    } else if (a == "--format") {
      auto v = value("--format");
      if (!v) return std::nullopt;
      o.format = *v;
    } else if (a == "--threads") {
      auto v = value("--threads");
      if (!v) return std::nullopt;
      auto n = integer_flag("--threads", *v, threads_range, err);
      if (!n) return std::nullopt;
      o.threads = static_cast<unsigned>(*n);
    } else if (a == "--drain-timeout") {
      auto v = value("--drain-timeout");
      if (!v) return std::nullopt;
      auto n = integer_flag("--drain-timeout", *v, drain_timeout_range, err);
      if (!n) return std::nullopt;
      o.drain_timeout_s = *n;
    } else if (a == "--help" || a == "-h") {
      o.help = true;
    } else if (a == "--stats") {
      o.stats = true;
    } else if (a == "--json") {
      o.json_output = true;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      err << "sluice: unknown option '" << a << "'\n";
      return std::nullopt;
    } else if (o.file.empty() && needs_file) {
      o.file = a;
    } else {
      err << "sluice: unexpected argument '" << a << "'\n";
      return std::nullopt;
    }
  }
  if (needs_file && o.file.empty() && !o.help) {
    err << "sluice: no pipeline file given\n";
    return std::nullopt;
  }
  return o;
}

}  // namespace

std::optional<common_options> parse_options(std::string_view command, const std::vector<std::string>& args, bool needs_file,
                                            const std::vector<std::string>& allowed, std::ostream& err) {
  auto o = parse_args(args, needs_file, allowed, err);
  if (!o) err << "sluice: see `sluice " << command << " --help`\n";
  return o;
}

bool fill_registry(pipeline::registry& r, const std::vector<std::string>& plugins, std::ostream& err) {
  stages::register_builtins(r);
  for (const std::string& path : plugins) {
    if (auto loaded = pipeline::load_plugin(path, r); !loaded) {
      err << "sluice: " << loaded.error << "\n";
      return false;
    }
  }
  return true;
}

std::optional<pipeline::pipeline_spec> load_or_report(const common_options& o, const pipeline::registry& r,
                                                      std::ostream& err) {
  auto loaded = pipeline::load_pipeline_file(o.file, r, o.overrides);
  if (!loaded) {
    for (auto& d : loaded.diagnostics) err << d.to_string() << "\n";
    err << "sluice: " << o.file << ": " << loaded.diagnostics.size() << " problem"
        << (loaded.diagnostics.size() == 1 ? "" : "s") << "\n";
    return std::nullopt;
  }
  return std::move(*loaded.pipeline);
}

}  // namespace sluice::app
