#pragma once
// TLS certificates for the main listener (tls.cert-file, tls.key-file): checked at start-up and
// swapped in place on reload. OpenSSL is lws's TLS library (Debian builds lws with OpenSSL 3),
// so the certificate is loaded with it directly: the new pair is read and checked completely
// before the server's SSL_CTX is touched, and one call installs both, so a bad file (missing,
// not PEM, key of another certificate) leaves the old certificate in service.

#include <optional>
#include <string>

struct ssl_ctx_st; // OpenSSL's SSL_CTX

namespace vigil::tls {

/// What a loaded certificate says about itself, for the log (no secrets).
struct cert_info {
  std::string subject;   // e.g. "CN=alerts.example.org"
  std::string not_after; // e.g. "Dec  3 05:40:00 2026 GMT"
};

/// Reads `cert_file` (PEM chain, leaf first) and `key_file` (PEM private key) and installs them
/// together in `ctx` (any SSL_CTX; nullptr = a scratch one, i.e. only check). On failure *error
/// names the option and file, e.g. `tls.key-file "/k.pem" does not match tls.cert-file
/// "/c.pem"`, and `ctx` is unchanged.
std::optional<cert_info> load(ssl_ctx_st* ctx, const std::string& cert_file,
                              const std::string& key_file, std::string* error);

/// Refuses everything older than TLS 1.2 on `ctx` (also set through lws's ssl_options_set).
void require_tls12(ssl_ctx_st* ctx);

} // namespace vigil::tls
