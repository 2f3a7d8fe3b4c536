// TLS certificates: loading and checking with OpenSSL (see tls.hpp).

#include "transport/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace vigil::tls {

namespace {

struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;
struct x509_free {
  void operator()(X509* x) const { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_free>;
struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
struct chain_free {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using chain_ptr = std::unique_ptr<STACK_OF(X509), chain_free>;
struct ctx_free {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

std::string quoted(const char* key, const std::string& path) {
  return std::string(key) + " \"" + path + "\"";
}

/// OpenSSL's reason for the last failure, if it left one (and clears its queue).
std::string openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0)
    return {};
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? std::string(" (") + reason + ")" : std::string{};
}

file_ptr open_file(const char* key, const std::string& path, std::string* error) {
  file_ptr f{std::fopen(path.c_str(), "rb")};
  if (!f)
    *error = "cannot read " + quoted(key, path) + " (" + std::strerror(errno) + ")";
  return f;
}

std::string x509_time(const ASN1_TIME* t) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new(BIO_s_mem()), BIO_free};
  if (!bio || ASN1_TIME_print(bio.get(), t) != 1)
    return {};
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

} // namespace

std::optional<cert_info> load(ssl_ctx_st* ctx, const std::string& cert_file,
                              const std::string& key_file, std::string* error) {
  ERR_clear_error();
  auto cf = open_file("tls.cert-file", cert_file, error);
  if (!cf)
    return std::nullopt;
  x509_ptr leaf{PEM_read_X509(cf.get(), nullptr, nullptr, nullptr)};
  if (!leaf) {
    *error = quoted("tls.cert-file", cert_file) + " holds no PEM certificate" + openssl_reason();
    return std::nullopt;
  }
  chain_ptr chain{sk_X509_new_null()};
  while (X509* more = PEM_read_X509(cf.get(), nullptr, nullptr, nullptr))
    sk_X509_push(chain.get(), more);
  ERR_clear_error(); // the end of the file ends the loop with a "no start line" error
  auto kf = open_file("tls.key-file", key_file, error);
  if (!kf)
    return std::nullopt;
  // No passphrase callback: an encrypted key fails here instead of prompting on a terminal.
  pkey_ptr key{PEM_read_PrivateKey(kf.get(), nullptr,
                                   [](char*, int, int, void*) { return 0; }, nullptr)};
  if (!key) {
    *error = quoted("tls.key-file", key_file) + " holds no unencrypted PEM private key"
             + openssl_reason();
    return std::nullopt;
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    *error = quoted("tls.key-file", key_file) + " does not match "
             + quoted("tls.cert-file", cert_file);
    return std::nullopt;
  }
  std::unique_ptr<SSL_CTX, ctx_free> scratch;
  if (ctx == nullptr) {
    scratch.reset(SSL_CTX_new(TLS_server_method()));
    ctx = scratch.get();
  }
  // Certificate, key and chain in one step; on failure the context keeps what it had.
  if (ctx == nullptr || SSL_CTX_use_cert_and_key(ctx, leaf.get(), key.get(), chain.get(), 1) != 1) {
    *error = "cannot use " + quoted("tls.cert-file", cert_file) + " with "
             + quoted("tls.key-file", key_file) + openssl_reason();
    return std::nullopt;
  }
  cert_info info;
  char subject[256] = {};
  X509_NAME_oneline(X509_get_subject_name(leaf.get()), subject, sizeof subject);
  info.subject = subject;
  info.not_after = x509_time(X509_get0_notAfter(leaf.get()));
  return info;
}

void require_tls12(ssl_ctx_st* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

} // namespace vigil::tls
