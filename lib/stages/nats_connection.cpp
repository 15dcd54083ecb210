// The connection side of the `nats` stages: options, their checks, connecting.
#include "stages/nats_connection.hpp"

#include <string_view>

namespace sluice::stages {

namespace {

/// `text` without spaces and tabs at either end.
std::string trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

/// The comma-separated servers of `url`, each trimmed (an empty one stays, for the check).
std::vector<std::string> split_urls(const std::string& url) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (;;) {
    const auto comma = url.find(',', from);
    out.push_back(trimmed(std::string_view(url).substr(from, comma == std::string::npos ? std::string::npos : comma - from)));
    if (comma == std::string::npos) return out;
    from = comma + 1;
  }
}

struct options_deleter {
  void operator()(natsOptions* o) const noexcept { natsOptions_Destroy(o); }
};
using options_ptr = std::unique_ptr<natsOptions, options_deleter>;

/// libnats options for `s`; NATS_OK or the first call that failed (`what` says which).
natsStatus make_options(const nats_settings& s, options_ptr& out, std::string& what) {
  natsOptions* raw = nullptr;
  natsStatus st = natsOptions_Create(&raw);
  out.reset(raw);
  if (st != NATS_OK) return what = "options", st;
  std::vector<const char*> servers;
  for (auto& u : s.urls) servers.push_back(u.c_str());
  if ((st = natsOptions_SetServers(raw, servers.data(), static_cast<int>(servers.size()))) != NATS_OK) return what = "url", st;
  // The listed order is the user's preference (the first is tried first).
  natsOptions_SetNoRandomize(raw, true);
  natsOptions_SetName(raw, s.name.c_str());
  natsOptions_SetTimeout(raw, s.connect_timeout_ms);
  natsOptions_SetAllowReconnect(raw, true);
  natsOptions_SetMaxReconnect(raw, static_cast<int>(s.max_reconnects));
  natsOptions_SetReconnectWait(raw, s.reconnect_wait_ms);
  if (!s.credentials.empty() &&
      (st = natsOptions_SetUserCredentialsFromFiles(raw, s.credentials.c_str(), nullptr)) != NATS_OK) {
    return what = "credentials " + s.credentials, st;
  }
  const bool tls = s.tls || !s.tls_ca.empty() || !s.tls_cert.empty();
  if (tls && (st = natsOptions_SetSecure(raw, true)) != NATS_OK) return what = "tls", st;
  if (!s.tls_ca.empty() && (st = natsOptions_LoadCATrustedCertificates(raw, s.tls_ca.c_str())) != NATS_OK) {
    return what = "tls_ca " + s.tls_ca, st;
  }
  if (!s.tls_cert.empty() &&
      (st = natsOptions_LoadCertificatesChain(raw, s.tls_cert.c_str(), s.tls_key.c_str())) != NATS_OK) {
    return what = "tls_cert " + s.tls_cert + " / tls_key " + s.tls_key, st;
  }
  return NATS_OK;
}

}  // namespace

nats_settings nats_settings_from(const json& o, const std::string& stage_name) {
  nats_settings s;
  s.url = string_option(o, "url", "nats://127.0.0.1:4222");
  s.urls = split_urls(s.url);
  s.name = string_option(o, "name", "sluice " + stage_name);
  s.credentials = string_option(o, "credentials", "");
  s.tls = o.value("tls", false);
  s.tls_ca = string_option(o, "tls_ca", "");
  s.tls_cert = string_option(o, "tls_cert", "");
  s.tls_key = string_option(o, "tls_key", "");
  s.connect_timeout_ms = int_option(o, "connect_timeout_ms", s.connect_timeout_ms);
  s.reconnect_wait_ms = int_option(o, "reconnect_wait_ms", s.reconnect_wait_ms);
  s.max_reconnects = int_option(o, "max_reconnects", s.max_reconnects);
  return s;
}

std::vector<option_spec> nats_connection_options() {
  std::vector<option_spec> o;
  auto url = opt("url", option_type::string, "the servers, comma-separated (nats://host:port or tls://host:port); tried in order",
                 false, "nats://127.0.0.1:4222");
  url.min_length = 1;
  o.push_back(url);
  o.push_back(opt("name", option_type::string, "the client name the server shows (default: \"sluice <stage>\")"));
  o.push_back(opt("credentials", option_type::string, "a NATS credentials file (.creds: user JWT and NKey seed)"));
  o.push_back(opt("tls", option_type::boolean, "require TLS (implied by tls_ca and tls_cert)", false, false));
  o.push_back(opt("tls_ca", option_type::string, "a PEM file of CA certificates to trust"));
  o.push_back(opt("tls_cert", option_type::string, "a PEM client certificate chain (needs tls_key)"));
  o.push_back(opt("tls_key", option_type::string, "the PEM private key of tls_cert"));
  auto timeout = opt("connect_timeout_ms", option_type::integer, "how long one connection attempt to one server may take", false, 2000);
  timeout.minimum = 1;
  timeout.maximum = 3600.0 * 1000;
  o.push_back(timeout);
  auto wait = opt("reconnect_wait_ms", option_type::integer, "the pause between reconnect attempts to one server", false, 2000);
  wait.minimum = 1;
  wait.maximum = 3600.0 * 1000;
  o.push_back(wait);
  auto attempts = opt("max_reconnects", option_type::integer,
                      "reconnect attempts per server after a lost connection, before the stage fails", false, 60);
  attempts.minimum = 0;
  attempts.maximum = 1000000;
  o.push_back(attempts);
  return o;
}

std::vector<pipeline::option_problem> check_nats_connection(const json& o) {
  std::vector<pipeline::option_problem> p;
  if (auto it = o.find("url"); it != o.end() && it->is_string()) {
    for (auto& u : split_urls(it->get<std::string>())) {
      if (u.empty()) p.push_back({"url", "an empty server in \"" + it->get<std::string>() + "\"", "servers separated by single commas"});
    }
  }
  const bool cert = o.contains("tls_cert") && !o["tls_cert"].is_null();
  const bool key = o.contains("tls_key") && !o["tls_key"].is_null();
  if (cert && !key) p.push_back({"tls_key", "tls_cert is set without tls_key", "the private key file of tls_cert"});
  if (key && !cert) p.push_back({"tls_cert", "tls_key is set without tls_cert", "the certificate file of tls_key"});
  return p;
}

nats_connect_result nats_connect(const nats_settings& s) {
  nats_connect_result r;
  options_ptr options;
  std::string what;
  natsStatus st = make_options(s, options, what);
  if (st != NATS_OK) {
    r.error = s.url + ": " + what + ": " + nats_error_text(st);
    return r;
  }
  natsConnection* raw = nullptr;
  st = natsConnection_Connect(&raw, options.get());
  r.connection.reset(raw);
  if (st != NATS_OK) r.error = s.url + ": cannot connect: " + nats_error_text(st);
  return r;
}

std::string nats_error_text(natsStatus s) {
  std::string text = natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  std::string_view detail = last != nullptr ? last : "";
  // libnats prefixes its detail with where in its sources it was set: "(conn.c:2088): ".
  if (!detail.empty() && detail.front() == '(') {
    if (const auto end = detail.find("): "); end != std::string_view::npos) detail.remove_prefix(end + 3);
  }
  if (!detail.empty() && detail != text) text += " (" + std::string(detail) + ")";
  return text;
}

}  // namespace sluice::stages
