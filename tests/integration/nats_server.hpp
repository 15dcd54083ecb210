// tests/integration/nats_server.hpp: a real nats-server for a test, and a libnats client for the
// test's own side (subscribing, publishing, creating streams).
//
// The server listens on a loopback port it picks itself (-p -1) and says which in its ports file;
// JetStream is on, its store in a temporary directory. Start waits for the ports file and then for
// a client connection to succeed, each with a deadline (no sleeps). The destructor stops it with
// SIGTERM and, past a deadline, SIGKILL (child_process), so a failing test still stops its server.
#pragma once

#include <nats/nats.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../support/child_process.hpp"
#include "cli_support.hpp"

namespace sluice::testing {

struct nats_connection_deleter {
  void operator()(natsConnection* c) const noexcept { natsConnection_Destroy(c); }
};
using nats_connection = std::unique_ptr<natsConnection, nats_connection_deleter>;

struct nats_subscription_deleter {
  void operator()(natsSubscription* s) const noexcept { natsSubscription_Destroy(s); }
};
using nats_subscription = std::unique_ptr<natsSubscription, nats_subscription_deleter>;

struct nats_msg_deleter {
  void operator()(natsMsg* m) const noexcept { natsMsg_Destroy(m); }
};
using nats_msg = std::unique_ptr<natsMsg, nats_msg_deleter>;

struct js_ctx_deleter {
  void operator()(jsCtx* j) const noexcept { jsCtx_Destroy(j); }
};
using js_ctx = std::unique_ptr<jsCtx, js_ctx_deleter>;

/// The nats-server binary (Debian puts it in /usr/sbin).
inline std::filesystem::path nats_server_binary() {
  for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}) {
    if (std::filesystem::exists(p)) return p;
  }
  throw std::runtime_error("nats-server is not installed (scripts/setup installs it)");
}

/// A nats-server with JetStream on a free loopback port, for one test.
class nats_server {
 public:
  /// How long the server may take to come up, and to stop after SIGTERM.
  static constexpr auto start_deadline = 20s;
  static constexpr auto stop_deadline = 10s;

  nats_server() { start("-1"); }
  ~nats_server() { stop(); }

  /// Stops the server and starts it again on the same port and store (clients may reconnect).
  void restart() {
    stop();
    const auto port = url_.substr(url_.rfind(':') + 1);
    start(port);
  }
  nats_server(const nats_server&) = delete;
  nats_server& operator=(const nats_server&) = delete;

  /// "nats://127.0.0.1:<port>".
  [[nodiscard]] const std::string& url() const noexcept { return url_; }

  /// A new client connection (the test's own side); throws if it cannot connect.
  [[nodiscard]] nats_connection connect() const {
    natsConnection* nc = nullptr;
    const natsStatus s = natsConnection_ConnectTo(&nc, url_.c_str());
    nats_connection c(nc);
    if (s != NATS_OK) throw std::runtime_error("cannot connect to " + url_ + ": " + natsStatus_GetText(s));
    return c;
  }

  /// What the server logged (for failure messages).
  [[nodiscard]] std::string log() const { return read_file(dir_ / "nats.log"); }

 private:
  void start(const std::string& port) {
    child_spec spec;
    spec.program = nats_server_binary();
    spec.args = {"-js", "-sd", (dir_ / "js").string(), "-a", "127.0.0.1", "-p", port,
                 "--ports_file_dir", dir_.path().string(), "-l", (dir_ / "nats.log").string()};
    spec.env = {{"PATH", "/usr/bin:/bin"}};
    spec.stdout_file = dir_ / "server.out";
    spec.stderr_file = dir_ / "server.err";
    server_.emplace(std::move(spec));
    const auto deadline = test_clock::now() + start_deadline;
    if (!server_->await([&] { return read_ports_file(); }, deadline)) fail("wrote no ports file");
    if (!server_->await([&] { return try_connect(); }, deadline)) fail("accepted no connection at " + url_);
  }
  /// SIGTERM, then SIGKILL past stop_deadline; reaped either way.
  void stop() {
    if (!server_) return;
    server_->signal(SIGTERM);
    if (!server_->wait_for(stop_deadline)) server_->wait_or_kill(0s);
    server_.reset();
  }
  bool read_ports_file() {
    const auto ports = dir_ / ("nats-server_" + std::to_string(server_->pid()) + ".ports");
    if (!std::filesystem::exists(ports)) return false;
    const auto j = nlohmann::json::parse(read_file(ports), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.contains("nats") || j["nats"].empty()) return false;  // still being written
    url_ = j["nats"][0].get<std::string>();
    return true;
  }
  bool try_connect() const {
    natsConnection* nc = nullptr;
    const natsStatus s = natsConnection_ConnectTo(&nc, url_.c_str());
    natsConnection_Destroy(nc);
    return s == NATS_OK;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("nats-server " + what + "; its log:\n" + log());
  }

  temp_dir dir_;
  std::optional<child_process> server_;
  std::string url_;
};

/// The test's own JetStream side: streams, publishing with acknowledgements, consumer counts.
class jetstream_client {
 public:
  explicit jetstream_client(const nats_server& server) : nc_(server.connect()) {
    jsCtx* js = nullptr;
    if (natsConnection_JetStream(&js, nc_.get(), nullptr) != NATS_OK) throw std::runtime_error("no JetStream context");
    js_.reset(js);
  }
  /// A file stream `name` over one subject pattern.
  void add_stream(const std::string& name, const std::string& subject) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name.c_str();
    const char* subjects[] = {subject.c_str()};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    jsStreamInfo* info = nullptr;
    const natsStatus s = js_AddStream(&info, js_.get(), &cfg, nullptr, nullptr);
    jsStreamInfo_Destroy(info);
    if (s != NATS_OK) throw std::runtime_error("cannot add stream " + name);
  }
  /// Publishes each payload to `subject` and waits for every publish acknowledgement.
  void publish(const std::string& subject, const std::vector<std::string>& payloads) {
    for (auto& p : payloads) {
      if (js_PublishAsync(js_.get(), subject.c_str(), p.data(), static_cast<int>(p.size()), nullptr) != NATS_OK) {
        throw std::runtime_error("publish to " + subject + " failed");
      }
    }
    jsPubOptions o;
    jsPubOptions_Init(&o);
    o.MaxWait = 60000;
    if (js_PublishAsyncComplete(js_.get(), &o) != NATS_OK) throw std::runtime_error("publish acknowledgements missing");
  }
  /// {num_pending, num_ack_pending} of a durable consumer.
  std::pair<std::uint64_t, std::int64_t> pending(const std::string& stream, const std::string& durable) {
    jsConsumerInfo* ci = nullptr;
    if (js_GetConsumerInfo(&ci, js_.get(), stream.c_str(), durable.c_str(), nullptr, nullptr) != NATS_OK) {
      throw std::runtime_error("no consumer " + durable + " on " + stream);
    }
    const std::pair<std::uint64_t, std::int64_t> r{ci->NumPending, ci->NumAckPending};
    jsConsumerInfo_Destroy(ci);
    return r;
  }
  /// True when the consumer exists and has nothing pending and nothing unacknowledged.
  bool settled(const std::string& stream, const std::string& durable) {
    jsConsumerInfo* ci = nullptr;
    if (js_GetConsumerInfo(&ci, js_.get(), stream.c_str(), durable.c_str(), nullptr, nullptr) != NATS_OK) return false;
    const bool done = ci->NumPending == 0 && ci->NumAckPending == 0;
    jsConsumerInfo_Destroy(ci);
    return done;
  }
  [[nodiscard]] jsCtx* js() const noexcept { return js_.get(); }

 private:
  nats_connection nc_;
  js_ctx js_;
};

/// `n` payloads {"n":1} ... {"n":n}.
inline std::vector<std::string> numbered_payloads(int n, int from = 1) {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = from; i < from + n; ++i) out.push_back("{\"n\":" + std::to_string(i) + "}");
  return out;
}

/// A loopback port nothing listens on: bound to find a free one, then closed again (nothing else
/// on this machine picks it in the instant a test uses it, short of bad luck with the kernel's
/// ephemeral ports, which hand out ports in turn).
inline int closed_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind to a loopback port failed");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace sluice::testing
