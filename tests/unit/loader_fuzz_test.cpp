// Fuzzing the pipeline loader: the example pipelines and the bad-pipeline fixtures, mutated (bytes
// flipped, spans deleted or duplicated, numbers replaced by extremes, huge strings, deep nesting,
// stray tokens), each fed to the loader from text and, when it loads, to `sluice check`'s own code.
// Nothing may crash, throw or hang; every diagnostic must carry a line:col and a JSON pointer.
//
// Deterministic: a fixed seed and a fixed number of mutants (SLUICE_FUZZ_ITERATIONS overrides it;
// fewer under a sanitizer). A watchdog aborts with the mutant that hangs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sluice/pipeline/model.hpp>
#include <sluice/stages/builtins.hpp>

#include "../../apps/sluice/commands.hpp"
#include "../integration/bad_pipelines.hpp"

namespace fs = std::filesystem;
using namespace sluice;
using namespace sluice::pipeline;

namespace {

/// How many mutants to try: a few seconds in a release build.
std::size_t iterations() {
  if (const char* n = std::getenv("SLUICE_FUZZ_ITERATIONS")) return std::strtoull(n, nullptr, 10);
  return testing::sanitized ? 100 : 600;  // most of the time is libjq compiling filters
}

/// The texts mutants are made from: every example pipeline, twice over (a valid text gives more
/// mutants that load, for check), and every bad-pipeline fixture.
std::vector<std::string> seeds() {
  std::vector<std::string> examples;
  for (const auto& entry : fs::directory_iterator(testing::pipelines_dir())) {
    if (entry.path().extension() == ".json") examples.push_back(testing::read_file(entry.path()));
  }
  std::sort(examples.begin(), examples.end());  // directory order is not stable: one seed, one sequence
  std::vector<std::string> out = examples;
  for (const auto& c : testing::bad_pipelines()) out.push_back(c.text);
  out.insert(out.end(), examples.begin(), examples.end());
  return out;
}

class mutator {
 public:
  explicit mutator(std::uint64_t seed) : random_(seed) {}

  /// `text` changed in one to three places.
  std::string mutate(std::string text) {
    const std::size_t changes = pick(1, 3);
    for (std::size_t i = 0; i < changes; ++i) text = once(std::move(text));
    return text;
  }

 private:
  std::size_t pick(std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(random_); }
  std::size_t position(const std::string& t) { return t.empty() ? 0 : pick(0, t.size() - 1); }

  std::string once(std::string t) {
    switch (pick(0, 7)) {
      case 0:  // a byte flipped
        if (!t.empty()) t[position(t)] = static_cast<char>(pick(0, 255));
        return t;
      case 1: {  // a span deleted
        const std::size_t at = position(t);
        return t.erase(at, pick(1, 24));
      }
      case 2: {  // a span duplicated somewhere
        const std::size_t at = position(t);
        const std::string span = t.substr(at, pick(1, 64));
        return t.insert(position(t), span);
      }
      case 3: return replace_number(std::move(t), extreme());
      case 4: return replace_number(std::move(t), "\"" + std::string(pick(1, 3) * 20000, 'x') + "\"");
      case 5: {  // nesting around a number: within max_depth or beyond it
        const std::size_t depth = pick(0, 1) == 0 ? pick(1, 40) : pick(500, 5000);
        const bool arrays = pick(0, 1) == 0;
        std::string open;
        std::string close;
        for (std::size_t i = 0; i < depth; ++i) {
          open += arrays ? "[" : "{\"k\":";
          close += arrays ? "]" : "}";
        }
        return replace_number(std::move(t), open + "1" + close);
      }
      case 6: {  // a stray token
        static const std::vector<std::string> tokens{"{", "}", "[", "]", ",", ":", "\"", "/*", "//", "\\u0000", "${",
                                                     "${X:-", "$${", "null", "true", "\"\\ud800\"", "\xff\xfe", "\t",
                                                     "\"stages\": {}", "\"type\": \"stdout\"", "-", "1e99999"};
        return t.insert(position(t), tokens[pick(0, tokens.size() - 1)]);
      }
      default: return replace_number(std::move(t), extreme());
    }
  }

  std::string extreme() {
    static const std::vector<std::string> values{"9223372036854775808", "9223372036854775807", "-9223372036854775809",
                                                 "18446744073709551616", "4294967296", "-1", "0", "1e308", "-1e308",
                                                 "1e-320", "0.5", "1024", "1025", "100001", "86401", "-0"};
    return values[pick(0, values.size() - 1)];
  }

  /// Replaces a random number of `t` (if any) by `with`.
  std::string replace_number(std::string t, const std::string& with) {
    std::vector<std::pair<std::size_t, std::size_t>> numbers;  // [begin, end)
    for (std::size_t i = 0; i < t.size();) {
      if (std::isdigit(static_cast<unsigned char>(t[i])) == 0) {
        ++i;
        continue;
      }
      const std::size_t begin = i;
      while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) != 0 || t[i] == '.' || t[i] == 'e')) ++i;
      numbers.emplace_back(begin, i);
    }
    if (numbers.empty()) return t;
    const auto [begin, end] = numbers[pick(0, numbers.size() - 1)];
    return t.replace(begin, end - begin, with);
  }

  std::mt19937_64 random_;
};

/// What is wrong with `d` as a diagnostic of a text ("" if nothing): it must say line:col and pointer.
std::string bad_diagnostic(const diagnostic& d) {
  if (d.where.line == 0 || d.where.column == 0) return "no line:col: " + d.to_string();
  if (!d.pointer.empty() && d.pointer[0] != '/') return "not a JSON pointer: " + d.to_string();
  if (d.problem.empty()) return "no problem text: " + d.to_string();
  return {};
}

/// Aborts the program, printing the mutant, if one takes longer than `limit` (a hang).
class watchdog {
 public:
  explicit watchdog(std::chrono::seconds limit) : limit_(limit), thread_([this] { watch(); }) {}
  ~watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  void next(std::size_t iteration, const std::string& text) {
    std::lock_guard lock(mutex_);
    iteration_ = iteration;
    text_ = text;
    ++generation_;
    wake_.notify_all();
  }

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    while (!done_) {
      const std::uint64_t seen = generation_;
      if (!wake_.wait_for(lock, limit_, [&] { return done_ || generation_ != seen; })) {
        std::cerr << "loader_fuzz: mutant " << iteration_ << " did not finish within " << limit_.count() << " s:\n"
                  << text_.substr(0, 4000) << std::endl;
        std::abort();
      }
    }
  }
  std::chrono::seconds limit_;
  std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  bool done_ = false;
  std::uint64_t generation_ = 0;
  std::size_t iteration_ = 0;
  std::string text_;
  std::thread thread_;
};

}  // namespace

TEST_SUITE("loader fuzz") {

TEST_CASE("mutated pipelines never crash, throw or hang the loader, and every diagnostic is located") {
  registry types;
  stages::register_builtins(types);
  const std::vector<std::string> texts = seeds();
  REQUIRE(texts.size() > 10);
  testing::temp_dir dir;
  const fs::path file = dir / "mutant.json";
  const fs::path previous = fs::current_path();
  fs::current_path(dir.path());  // relative paths a mutant names (claims stat them) stay in here
  mutator m(0x5eed'2012);
  watchdog dog(std::chrono::seconds(testing::sanitized ? 60 : 20));
  std::size_t loaded = 0;
  std::size_t refused = 0;
  const std::size_t n = iterations();
  for (std::size_t i = 0; i < n; ++i) {
    const std::string text = m.mutate(texts[i % texts.size()]);
    dog.next(i, text);
    std::vector<diagnostic> diagnostics;
    bool ok = false;
    try {
      document_result doc = parse_document(text, "mutant.json");
      if (doc) {
        diagnostics = substitute_env(*doc, process_env);
        if (diagnostics.empty()) {
          load_result r = load_pipeline(*doc, types);
          ok = static_cast<bool>(r);
          diagnostics = std::move(r.diagnostics);
        }
      } else {
        diagnostics = doc.diagnostics();
      }
    } catch (const std::exception& e) {
      FAIL_CHECK("mutant ", i, " threw ", e.what(), ":\n", text.substr(0, 2000));
      continue;
    }
    if (!ok && diagnostics.empty()) FAIL_CHECK("mutant ", i, " was refused without a diagnostic:\n", text.substr(0, 2000));
    for (const auto& d : diagnostics) {
      if (auto why = bad_diagnostic(d); !why.empty()) FAIL_CHECK("mutant ", i, ": ", why, "\n", text.substr(0, 2000));
    }
    if (!ok) {
      ++refused;
      continue;
    }
    ++loaded;
    // What loads must pass `sluice check`'s own code too (read from a file, the registry filled).
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
    std::ostringstream out;
    std::ostringstream err;
    const int code = app::check_command({file.string()}, out, err);
    if (code != app::exit_ok) FAIL_CHECK("mutant ", i, " loads but check says ", code, ": ", err.str(), "\n", text.substr(0, 2000));
  }
  fs::current_path(previous);
  MESSAGE(n, " mutants: ", loaded, " loaded, ", refused, " refused");
  CHECK(loaded > 0);
  CHECK(refused > 0);
}

}  // TEST_SUITE
