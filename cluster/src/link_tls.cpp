#include "cluster/link_tls.hpp"

#include <memory>
#include <string>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>

#include "cluster/error.hpp"

namespace callgrid::cluster {

namespace {

/// Every reason in this thread's OpenSSL error queue, oldest first, "; "-separated (the queue is
/// empty afterwards).
std::string drain_openssl_errors() {
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  while (auto code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    if (!out.empty())
      out += "; ";
    out += text;
    if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && *data != '\0') {
      out += " (";
      out += data;
      out += ")";
    }
  }
  return out.empty() ? std::string{"no reason given by OpenSSL"} : out;
}

caf::error tls_problem(const std::string& key, const std::string& path, const std::string& what) {
  return make_cluster_error(errc::tls_invalid, key + " '" + path + "': " + what);
}

/// A passphrase callback that declines: an encrypted key fails to load instead of OpenSSL asking
/// on the terminal.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

struct ctx_deleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct store_ctx_deleter {
  void operator()(X509_STORE_CTX* ctx) const { X509_STORE_CTX_free(ctx); }
};

} // namespace

caf::error check_link_tls(const link_tls& tls) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, ctx_deleter> ctx{SSL_CTX_new(TLS_method())};
  if (!ctx)
    return make_cluster_error(errc::tls_invalid,
                              "OpenSSL cannot create a context: " + drain_openssl_errors());
  SSL_CTX_set_default_passwd_cb(ctx.get(), no_passphrase);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.certificate.c_str()) != 1)
    return tls_problem("cluster.tls_certificate", tls.certificate,
                       "not a readable PEM certificate: " + drain_openssl_errors());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    auto reason = drain_openssl_errors();
    // OpenSSL compares the key with the certificate while loading it.
    if (reason.find("key values mismatch") != std::string::npos)
      return tls_problem("cluster.tls_key", tls.key,
                         "does not belong to the certificate in cluster.tls_certificate ("
                           + tls.certificate + "): " + reason);
    return tls_problem("cluster.tls_key", tls.key,
                       "not a readable, unencrypted PEM private key: " + reason);
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return tls_problem("cluster.tls_key", tls.key,
                       "does not belong to the certificate in cluster.tls_certificate: "
                         + drain_openssl_errors());
  if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca_file.c_str(), nullptr) != 1)
    return tls_problem("cluster.tls_ca_file", tls.ca_file,
                       "not a readable PEM CA certificate: " + drain_openssl_errors());
  // Peers verify this certificate against the same CA file: check it here, where the message
  // can name the file, rather than at every peer.
  std::unique_ptr<X509_STORE_CTX, store_ctx_deleter> verify{X509_STORE_CTX_new()};
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx.get(), &chain);
  if (!verify
      || X509_STORE_CTX_init(verify.get(), SSL_CTX_get_cert_store(ctx.get()),
                             SSL_CTX_get0_certificate(ctx.get()), chain)
           != 1)
    return make_cluster_error(errc::tls_invalid,
                              "OpenSSL cannot verify certificates: " + drain_openssl_errors());
  if (X509_verify_cert(verify.get()) != 1) {
    auto reason = X509_verify_cert_error_string(X509_STORE_CTX_get_error(verify.get()));
    ERR_clear_error();
    return tls_problem("cluster.tls_certificate", tls.certificate,
                       std::string{"is not accepted by the CA in cluster.tls_ca_file ("}
                         + tls.ca_file + "): " + reason);
  }
  return {};
}

void configure_link_tls(caf::actor_system_config& cfg, const link_tls& tls) {
  cfg.load<caf::openssl::manager>();
  cfg.openssl_certificate = tls.certificate;
  cfg.openssl_key = tls.key;
  cfg.openssl_cafile = tls.ca_file;
}

caf::actor spawn_tls_failure_reporter(caf::actor_system& system, std::string side,
                                      std::chrono::milliseconds interval) {
  return system.spawn([side = std::move(side), interval](caf::event_based_actor* self) {
    self->send(self, caf::tick_atom_v);
    return caf::behavior{
      [self, side, interval](caf::tick_atom) {
        // The handshakes run in the middleman's network thread, and OpenSSL's error queue is
        // per thread: look at it from there.
        self->system().middleman().run_later([side] {
          if (ERR_peek_error() == 0)
            return;
          spdlog::warn("cluster: TLS handshake failed ({}): {}", side, drain_openssl_errors());
        });
        self->delayed_send(self, interval, caf::tick_atom_v);
      },
    };
  });
}

} // namespace callgrid::cluster
