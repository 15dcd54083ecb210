// event_bench: MB/s of validating ~100-byte JSON log lines (event_parser vs nlohmann vs libjq) and of
// text -> jv (the jq bridge vs jv_parse). Not a test: a measurement, run by hand:
//   build/tests/event_bench [lines]
// Prints the median and the spread of 5 runs for each.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <sluice/pipeline/event_parser.hpp>

#include "pipeline/event_jq.hpp"

using namespace sluice::pipeline;

namespace {

/// `n` log lines of about 100 bytes, six fields, as sluice-bench's generator writes them.
std::string make_lines(std::size_t n) {
  static const char* levels[] = {"info", "warn", "error", "debug"};
  std::string all;
  char buf[256];
  for (std::size_t i = 0; i < n; ++i) {
    const int len = std::snprintf(buf, sizeof buf,
        R"({"id":%zu,"ts":"2024-05-01T12:%02zu:%02zu.%03zuZ","level":"%s","host":"db-%zu","msg":"request %zu served","ms":%zu.%zu})",
        i, (i / 60) % 60, i % 60, i % 1000, levels[i % 4], i % 16, i * 7, i % 500, i % 10);
    all.append(buf, static_cast<std::size_t>(len));
    all += '\n';
  }
  return all;
}

double seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void report(const char* what, double bytes, const std::function<void()>& f) {
  std::vector<double> mbs;
  for (int run = 0; run < 5; ++run) mbs.push_back(bytes / seconds(f) / 1e6);
  std::sort(mbs.begin(), mbs.end());
  std::printf("%-44s %8.0f MB/s  (min %.0f, max %.0f)\n", what, mbs[2], mbs[0], mbs[4]);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200000;
  const std::string text = make_lines(n);
  std::vector<std::pair<std::size_t, std::size_t>> lines;  // offset, size
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t nl = text.find('\n', at);
    lines.emplace_back(at, nl - at);
    at = nl + 1;
  }
  const double bytes = static_cast<double>(text.size() - lines.size());
  std::printf("%zu lines, %.1f bytes a line\n", lines.size(), bytes / static_cast<double>(lines.size()));

  chunk_ref chunk = text_chunk::make(text.size());
  std::memcpy(chunk->data(), text.data(), text.size());
  event_parser parser;
  long failures = 0;
  report("event_parser::parse_in (in place, chunk)", bytes, [&] {
    for (auto [at, size] : lines) failures += parser.parse_in(chunk, at, size).has_value() ? 0 : 1;
  });
  report("event_parser::parse (copies the line)", bytes, [&] {
    for (auto [at, size] : lines) failures += parser.parse(std::string_view(text).substr(at, size)).has_value() ? 0 : 1;
  });
  report("nlohmann::json::parse", bytes, [&] {
    for (auto [at, size] : lines) failures += nlohmann::json::parse(std::string_view(text).substr(at, size)).is_object() ? 0 : 1;
  });
  report("jv_parse_sized", bytes, [&] {
    for (auto [at, size] : lines) {
      jv v = jv_parse_sized(text.data() + at, static_cast<int>(size));
      failures += jv_is_valid(v) ? 0 : 1;
      jv_free(v);
    }
  });

  std::vector<event> events;
  for (auto [at, size] : lines) events.push_back(std::move(parser.parse_in(chunk, at, size).value()));
  internal::jq_bridge bridge;
  report("text -> jv: jq_bridge::to_jv (simdjson DOM)", bytes, [&] {
    for (const event& e : events) jv_free(bridge.to_jv(e));
  });
  report("text -> jv: jv_parse_sized", bytes, [&] {
    for (const event& e : events) jv_free(jv_parse_sized(e.text().data(), static_cast<int>(e.text().size())));
  });

  std::vector<jv> values;
  for (const event& e : events) values.push_back(bridge.to_jv(e));
  std::string out;
  out.reserve(text.size() + lines.size());  // the pass-through below appends every line
  report("jv -> text: append_jv (ours)", bytes, [&] {
    for (jv v : values) {
      out.clear();
      internal::append_jv(v, out);
    }
  });
  report("jv -> text: jv_dump_string", bytes, [&] {
    for (jv v : values) jv_free(jv_dump_string(jv_copy(v), 0));
  });
  report("text pass-through: append_json", bytes, [&] {
    out.clear();
    for (const event& e : events) {
      e.append_json(out);
      out += '\n';
    }
  });
  for (jv v : values) jv_free(v);
  if (failures != 0) std::printf("%ld lines failed to parse\n", failures);
  return failures == 0 ? 0 : 1;
}
