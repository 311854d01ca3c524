#pragma once

#include <chrono>
#include <string>

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>

namespace callgrid::cluster {

/// TLS on the cluster link (`cluster.tls_certificate`, `cluster.tls_key`, `cluster.tls_ca_file`).
/// Plain value. All empty: plain TCP. All set: mutual TLS through CAF's OpenSSL module — each
/// side presents `certificate` and accepts the other only if its chain ends at a CA in `ca_file`
/// (no host name check: use a CA of the cluster's own). The configuration refuses a partial set.
struct link_tls {
  /// PEM certificate chain this daemon presents (its own certificate first).
  std::string certificate;
  /// PEM private key of `certificate`, not encrypted.
  std::string key;
  /// PEM file with the CA certificate(s) a peer's certificate must chain to.
  std::string ca_file;

  /// Whether the link runs TLS (any file set; the configuration requires all three then).
  [[nodiscard]] bool enabled() const noexcept {
    return !certificate.empty() || !key.empty() || !ca_file.empty();
  }
  friend bool operator==(const link_tls&, const link_tls&) = default;
};

/// Loads the three files with OpenSSL the way CAF's OpenSSL module will, and checks that the key
/// belongs to the certificate and that the certificate chains to the CA (and has not expired):
/// CAF loads them again for every connection and aborts the process from its network thread
/// when it cannot, so a daemon checks them before it starts. Runs in the caller's thread (file
/// I/O). Fails with `errc::tls_invalid`; the context names the configuration key, the file and
/// OpenSSL's reason.
[[nodiscard]] caf::error check_link_tls(const link_tls& tls);

/// Loads CAF's OpenSSL module into `cfg` and hands it the files (`openssl.certificate`,
/// `openssl.key`, `openssl.cafile`). Call before the actor system is built and only when
/// `tls.enabled()`; afterwards `publish_registry(..., true)` and a membership client with `tls`
/// use it. Never fails.
void configure_link_tls(caf::actor_system_config& cfg, const link_tls& tls);

/// Logs why TLS handshakes on the cluster link failed. CAF's OpenSSL module drops a connection
/// whose handshake fails without telling anyone (its logging is compiled out on Debian) and
/// leaves OpenSSL's reason in the error queue of the middleman's network thread; the returned
/// actor (event-based, owned by the caller, who ends it with an exit message) looks at that queue
/// from inside that thread every `interval` and logs each reason as a spdlog warning:
/// `cluster: TLS handshake failed (<side>): ... certificate verify failed`. Needs the OpenSSL
/// module loaded; never fails.
[[nodiscard]] caf::actor spawn_tls_failure_reporter(
  caf::actor_system& system, std::string side,
  std::chrono::milliseconds interval = std::chrono::milliseconds{500});

} // namespace callgrid::cluster
