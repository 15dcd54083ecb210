#include "observe/http_endpoint.hpp"

#include <httplib.h>

#include "observe/api_json.hpp"
#include "observe/prometheus.hpp"
#include "observe/web_page.hpp"

namespace sluice::observe {

listen_address parse_listen_address(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    throw std::invalid_argument("expected HOST:PORT (e.g. 127.0.0.1:8464 or [::1]:8464), not \"" + text + "\"");
  }
  listen_address a;
  a.host = text.substr(0, colon);
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    throw std::invalid_argument("expected a port from 0 to 65535 after the last ':', not \"" + port + "\"");
  }
  a.port = std::stoi(port);
  return a;
}

http_endpoint::http_endpoint(const listen_address& where, std::string pipeline, std::string version)
    : server_(std::make_unique<httplib::Server>()), pipeline_(std::move(pipeline)), version_(std::move(version)) {
  // Two workers: a scrape and a page load at once; more would only take cores from the stages.
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  routes();
  port_ = where.port == 0 ? server_->bind_to_any_port(where.host) : (server_->bind_to_port(where.host, where.port) ? where.port : -1);
  if (port_ < 0) throw std::runtime_error("cannot listen on " + where.host + ":" + std::to_string(where.port));
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    listen_returned_.store(true, std::memory_order_release);
  });
}

http_endpoint::~http_endpoint() {
  // cpp-httplib 0.11's stop() does nothing until the listening loop has begun (it has no
  // wait_until_ready yet): wait for the loop, which the thread enters at once, so that a run that
  // ends within its first instant does not leave the thread listening and this join hanging.
  // Acquire: pairs with the release above.
  while (!server_->is_running() && !listen_returned_.load(std::memory_order_acquire)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_->stop();
  thread_.join();
}

void http_endpoint::attach(std::shared_ptr<monitor> m) {
  std::lock_guard lock(mutex_);
  monitor_ = std::move(m);
}

std::shared_ptr<monitor> http_endpoint::attached() const {
  std::lock_guard lock(mutex_);
  return monitor_;
}

snapshot http_endpoint::figures() const {
  if (auto m = attached()) return m->current();
  snapshot starting;
  starting.pipeline = pipeline_;
  return starting;
}

void http_endpoint::routes() {
  server_->Get("/livez", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const snapshot s = figures();
    if (s.ready()) return res.set_content("ready\n", "text/plain");
    res.status = 503;
    res.set_content(std::string("not ready: ") + (!s.started ? "starting" : s.draining ? "draining" : "ended") + "\n", "text/plain");
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(prometheus_text(figures(), version_), std::string(prometheus_content_type).c_str());
  });
  server_->Get("/api/pipeline", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(api_json(figures()).dump() + "\n", "application/json");
  });
  server_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(web_page()), "text/html; charset=utf-8");
  });
}

}  // namespace sluice::observe
