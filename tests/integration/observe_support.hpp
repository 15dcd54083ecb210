// tests/integration/observe_support.hpp: driving `sluice run --http` and the real tools that read
// it (promtool, prometheus, chromedriver) from a test: HTTP over loopback, free ports, waits with
// deadlines.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <regex>
#include <string>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

namespace sluice::testing {

/// An answer: status and body.
struct http_answer {
  int status = 0;
  std::string body;
  std::string content_type;
};

/// GET `path` from `base` ("http://127.0.0.1:PORT"); nullopt if nothing answered.
inline std::optional<http_answer> http_get(const std::string& base, const std::string& path) {
  httplib::Client client(base);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(10, 0);
  auto r = client.Get(path.c_str());
  if (!r) return std::nullopt;
  return http_answer{r->status, r->body, r->get_header_value("Content-Type")};
}

/// POST a JSON body; the answer parsed (a discarded value if it is not JSON).
inline nlohmann::json http_post_json(const std::string& base, const std::string& path, const nlohmann::json& body) {
  httplib::Client client(base);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(60, 0);
  auto r = client.Post(path.c_str(), body.dump(), "application/json");
  return r ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json(nlohmann::json::value_t::discarded);
}

/// A loopback port free a moment ago (the kernel's pick for port 0), for a tool that must be told one.
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

/// The base URL ("http://127.0.0.1:PORT") `sluice run --http` says it listens on ("" if it did not
/// say so before `deadline` or before it ended).
inline std::string endpoint_of(child_process& child, test_clock::time_point deadline) {
  static const std::regex line(R"(http: listening on (http://[^ /]+)/)");  // as text or in a JSON record
  std::string url;
  child.await([&] {
    std::smatch m;
    const std::string err = child.err();
    if (std::regex_search(err, m, line)) url = m[1];
    return !url.empty();
  }, deadline);
  return url;
}

/// GET /api/pipeline, parsed (a discarded value if it did not answer).
inline nlohmann::json api(const std::string& base) {
  auto r = http_get(base, "/api/pipeline");
  return r && r->status == 200 ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json(nlohmann::json::value_t::discarded);
}

/// The stage called `name` in an /api/pipeline answer (null if absent).
inline nlohmann::json stage_in(const nlohmann::json& a, const std::string& name) {
  if (!a.is_object()) return nullptr;
  for (const auto& s : a["stages"]) {
    if (s["name"] == name) return s;
  }
  return nullptr;
}

/// Waits (re-reading /api/pipeline) until `holds(answer)`, the child ends, or `deadline`; the last answer.
template <class Condition>
nlohmann::json await_api(child_process& child, const std::string& base, Condition holds, test_clock::time_point deadline) {
  nlohmann::json last;
  child.await([&] {
    last = api(base);
    return last.is_object() && holds(last);
  }, deadline);
  return last;
}

/// Starts a program other than sluice (stdout and stderr to `name`.out/.err in `dir`).
inline child_process start_tool(const temp_dir& dir, const std::string& name, const std::string& program,
                                 std::vector<std::string> args, const std::filesystem::path& stdin_file = "/dev/null") {
  child_spec spec;
  spec.program = program;
  spec.args = std::move(args);
  spec.env = child_env({{"HOME", dir.path().string()}});
  spec.cwd = dir.path();
  spec.stdin_file = stdin_file;
  spec.stdout_file = dir / (name + ".out");
  spec.stderr_file = dir / (name + ".err");
  return child_process(std::move(spec));
}

/// A pipeline that runs steadily until stopped: 2,000 events a second through jq into a null sink.
inline std::filesystem::path steady_pipeline(const temp_dir& dir) {
  return dir.write("steady.json", R"({
  "version": 1,
  "name": "steady",
  "stages": {
    "src": {"type": "generate", "options": {"event": {"n": 1}, "rate": 2000}},
    "double": {"type": "jq", "options": {"filter": ".n * 2"}, "subscribe_to": "src"},
    "sink": {"type": "null", "subscribe_to": "double"}
  }
})");
}

/// A pipeline whose sink writes to the FIFO `fifo` as fast as a source can make events.
inline std::filesystem::path fifo_pipeline(const temp_dir& dir, const std::filesystem::path& fifo) {
  return dir.write("fifo.json", R"({
  "version": 1,
  "name": "fifo",
  "stages": {
    "src": {"type": "generate", "options": {"event": {"n": 1}}},
    "sink": {"type": "file", "options": {"path": ")" + fifo.string() + R"("}, "subscribe_to": "src"}
  }
})");
}

}  // namespace sluice::testing
