// lib/observe/http_endpoint.hpp: `sluice run --http ADDR:PORT`, the HTTP side of a running pipeline.
//
// cpp-httplib's server on a thread of its own with two worker threads: it only copies the
// monitor's latest snapshot (under the monitor's mutex, never the event path's), so scrapes cost
// the stages nothing. Routes: /livez (200 while the process serves), /readyz (200 once every stage
// started, 503 before, while draining and after the end), /metrics (Prometheus text 0.0.4),
// /api/pipeline (JSON, api_json.hpp), / (the web view).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "observe/monitor.hpp"

namespace httplib {
class Server;
}

namespace sluice::observe {

/// "HOST:PORT" (HOST a name or an address, IPv6 in brackets; PORT 0 to 65535, 0: any free port).
struct listen_address {
  std::string host;
  int port = 0;
};
/// Parses an --http value; throws std::invalid_argument saying what was expected.
listen_address parse_listen_address(const std::string& text);

class http_endpoint {
 public:
  /// Listens on `where`; throws std::runtime_error naming it if it cannot. `version`: sluice's.
  http_endpoint(const listen_address& where, std::string pipeline, std::string version);
  ~http_endpoint();
  http_endpoint(const http_endpoint&) = delete;
  http_endpoint& operator=(const http_endpoint&) = delete;

  /// The port it listens on (the one picked when 0 was asked).
  [[nodiscard]] int port() const noexcept { return port_; }
  /// The figures to serve from now on (none: starting, not ready). Thread-safe.
  void attach(std::shared_ptr<monitor> m);

 private:
  void routes();
  [[nodiscard]] std::shared_ptr<monitor> attached() const;
  [[nodiscard]] snapshot figures() const;

  std::unique_ptr<httplib::Server> server_;
  std::string pipeline_;
  std::string version_;
  int port_ = 0;
  mutable std::mutex mutex_;  // guards monitor_
  std::shared_ptr<monitor> monitor_;
  std::atomic<bool> listen_returned_{false};
  std::thread thread_;
};

}  // namespace sluice::observe
