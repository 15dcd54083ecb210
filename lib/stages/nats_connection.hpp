// lib/stages/nats_connection.hpp: what the `nats` stages share: the connection options (servers,
// client name, credentials, TLS, reconnects), their checks, and connecting with libnats.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "stages/builtin.hpp"

namespace sluice::stages {

/// How a `nats` stage connects, from its options.
struct nats_settings {
  std::string url;                ///< as written (comma-separated), for messages
  std::vector<std::string> urls;  ///< each server, trimmed
  std::string name;               ///< the client name the server shows
  std::string credentials;        ///< a .creds file, or ""
  bool tls = false;               ///< require TLS (also implied by any tls_* file)
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::int64_t connect_timeout_ms = 2000;
  std::int64_t reconnect_wait_ms = 2000;
  std::int64_t max_reconnects = 60;
};

/// The settings from validated options; the client name defaults to "sluice <stage>".
nats_settings nats_settings_from(const json& options, const std::string& stage_name);

/// The connection options every `nats` stage type takes.
std::vector<option_spec> nats_connection_options();

/// Problems the schema cannot see: an empty server in `url`, a TLS certificate without its key.
std::vector<pipeline::option_problem> check_nats_connection(const json& options);

struct nats_connection_deleter {
  void operator()(natsConnection* c) const noexcept { natsConnection_Destroy(c); }
};
using nats_connection_ptr = std::unique_ptr<natsConnection, nats_connection_deleter>;

struct nats_subscription_deleter {
  void operator()(natsSubscription* s) const noexcept { natsSubscription_Destroy(s); }
};
using nats_subscription_ptr = std::unique_ptr<natsSubscription, nats_subscription_deleter>;

/// A connection, or why there is none ("nats://...: cannot connect: ...").
struct nats_connect_result {
  nats_connection_ptr connection;
  std::string error;
};

/// Connects to the first server of `s` that answers (libnats tries them in order). Blocks up to
/// connect_timeout_ms per server. Call on the thread that reads the error (libnats keeps the
/// last error's detail per thread).
nats_connect_result nats_connect(const nats_settings& s);

/// What went wrong with a libnats call that returned `s` on this thread: the status and, when
/// libnats says more, its detail.
std::string nats_error_text(natsStatus s);

}  // namespace sluice::stages
