// Identity, roles, permissions and JWT verification with libjwt (docs/api.md "Authentication",
// "Authorization and tenancy").
//
// libjwt 1.10 verifies a signature with whatever algorithm the token's header names, and skips
// verification entirely for `alg: none` or an empty key. We therefore never let the token choose:
// the header is checked against the configured algorithm before libjwt sees the token, the key is
// never empty, and the algorithm libjwt decoded is checked again afterwards.

#include "domain/auth.hpp"

#include "domain/base64url.hpp"

#include <jwt.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <memory>

#include "domain/json.hpp"

namespace vigil {

namespace {

constexpr size_t max_token_length = 16 * 1024; // far above any real token; bounds the work

// -- roles and permissions ---------------------------------------------------

constexpr std::array<role, 6> all_roles = {role::admin,    role::head_doctor, role::doctor,
                                           role::nurse,    role::operator_,   role::viewer};

// -- RAII for libjwt ---------------------------------------------------------

struct jwt_deleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;

struct c_string_deleter {
  void operator()(char* s) const { std::free(s); }
};
using c_string_ptr = std::unique_ptr<char, c_string_deleter>;

// -- algorithm selection -----------------------------------------------------

/// The one algorithm the configuration accepts and the key for it; nullopt when the
/// configuration cannot verify anything safely (empty key, unknown or mismatched algorithm).
struct verifier {
  jwt_alg_t alg;
  const char* alg_text;
  const std::string* key;
};

std::optional<verifier> select_verifier(const jwt_config& cfg) {
  if (!cfg.public_key_pem.empty()) {
    if (cfg.algorithm == "RS256") return verifier{JWT_ALG_RS256, "RS256", &cfg.public_key_pem};
    if (cfg.algorithm == "ES256") return verifier{JWT_ALG_ES256, "ES256", &cfg.public_key_pem};
    return std::nullopt; // a public key with HS256 would be algorithm confusion
  }
  if (cfg.algorithm == "HS256" && !cfg.hs256_secret.empty())
    return verifier{JWT_ALG_HS256, "HS256", &cfg.hs256_secret};
  return std::nullopt;
}

/// Checks the token's shape and its header before any cryptography: three non-empty base64url
/// segments, a JSON object header whose `alg` is exactly the configured one and no `crit`.
/// Returns auth_reason::none when acceptable, else malformed or wrong_algorithm.
auth_reason header_acceptable(std::string_view token, const verifier& v) {
  constexpr auth_reason malformed = auth_reason::malformed;
  size_t first = token.find('.');
  if (first == std::string_view::npos) return malformed;
  size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos) return malformed;
  if (token.find('.', second + 1) != std::string_view::npos) return malformed;
  std::string_view head = token.substr(0, first);
  std::string_view body = token.substr(first + 1, second - first - 1);
  std::string_view sig = token.substr(second + 1);
  if (head.empty() || body.empty() || sig.empty()) return malformed;
  if (!base64url_decode(body) || !base64url_decode(sig)) return malformed;
  auto head_text = base64url_decode(head);
  if (!head_text) return malformed;
  std::string error;
  auto header = json::parse(*head_text, &error);
  if (!header || !header->is_object()) return malformed;
  const json::value* alg = header->find("alg");
  if (!alg || !alg->is_string() || alg->as_string() != v.alg_text)
    return auth_reason::wrong_algorithm;
  // We implement no JWS extensions, so any critical one must be refused (RFC 7515 4.1.11).
  if (header->find("crit") != nullptr) return auth_reason::wrong_algorithm;
  return auth_reason::none;
}

// -- claims ------------------------------------------------------------------

/// An optional numeric claim: absent is fine, present must be a number.
bool optional_number(const json::value& claims, const char* key, std::optional<double>& out) {
  const json::value* v = claims.find(key);
  if (!v) return true;
  if (!v->is_number()) return false;
  out = v->as_double();
  return true;
}

int64_t clamp_seconds(double d) {
  if (d >= 9.0e18) return INT64_MAX;
  if (d <= -9.0e18) return INT64_MIN;
  return static_cast<int64_t>(std::floor(d));
}

/// Reads and checks the claims; `invalid` or `expired` on failure.
std::variant<identity, auth_failure> identity_from_claims(const json::value& claims,
                                                          int64_t now_sec, auth_reason& reason) {
  reason = auth_reason::bad_claims; // what every `invalid` below means, unless said otherwise
  if (!claims.is_object()) return auth_failure::invalid;
  identity who;

  const json::value* sub = claims.find("sub");
  if (!sub || !sub->is_string() || sub->as_string().empty()) return auth_failure::invalid;
  who.sub = sub->as_string();

  const json::value* role_claim = claims.find("role");
  if (!role_claim || !role_claim->is_string()) return auth_failure::invalid;
  auto r = parse_role(role_claim->as_string());
  if (!r) return auth_failure::invalid;
  who.user_role = *r;

  const json::value* hospitals = claims.find("hospitals");
  if (!hospitals || !hospitals->is_array()) return auth_failure::invalid;
  for (const json::value& h : hospitals->as_array()) {
    if (!h.is_string()) return auth_failure::invalid;
    who.hospitals.push_back(h.as_string());
  }

  // `name` is optional; null counts as absent (some issuers write every claim).
  if (const json::value* name = claims.find("name"); name && !name->is_null()) {
    if (!name->is_string()) return auth_failure::invalid;
    who.name = name->as_string();
  }

  const json::value* exp = claims.find("exp");
  if (!exp || !exp->is_number()) return auth_failure::invalid;
  std::optional<double> nbf;
  std::optional<double> iat;
  if (!optional_number(claims, "nbf", nbf) || !optional_number(claims, "iat", iat))
    return auth_failure::invalid;

  const auto now = static_cast<double>(now_sec);
  if ((nbf && *nbf > now) || (iat && *iat > now)) {
    reason = auth_reason::not_yet_valid;
    return auth_failure::invalid;
  }
  if (exp->as_double() <= now) {
    reason = auth_reason::expired;
    return auth_failure::expired;
  }
  who.exp = clamp_seconds(exp->as_double());
  reason = auth_reason::none;
  return who;
}

} // namespace

// -- roles and permissions ---------------------------------------------------

const char* role_name(role r) {
  switch (r) {
    case role::admin: return "admin";
    case role::head_doctor: return "head_doctor";
    case role::doctor: return "doctor";
    case role::nurse: return "nurse";
    case role::operator_: return "operator";
    case role::viewer: return "viewer";
  }
  return "viewer";
}

std::optional<role> parse_role(std::string_view s) {
  for (role r : all_roles)
    if (s == role_name(r)) return r;
  return std::nullopt;
}

const char* permission_name(permission p) {
  switch (p) {
    case permission::view: return "view_alerts";
    case permission::create: return "create_alerts";
    case permission::update: return "update_alerts";
    case permission::acknowledge: return "acknowledge_alerts";
    case permission::escalate: return "escalate_alerts";
  }
  return "view_alerts";
}

bool role_has(role r, permission p) {
  switch (p) {
    case permission::view:
      return true;
    case permission::create:
    case permission::update:
      return r != role::viewer;
    case permission::acknowledge:
      return r == role::doctor || r == role::nurse || r == role::head_doctor || r == role::admin;
    case permission::escalate:
      return r == role::head_doctor || r == role::admin;
  }
  return false;
}

bool identity::has_hospital(std::string_view h) const {
  for (const std::string& mine : hospitals)
    if (mine == h) return true;
  return false;
}

int64_t expiry_ms(const identity& who) {
  constexpr int64_t limit = INT64_MAX / 1000;
  if (who.exp > limit) return INT64_MAX;
  if (who.exp < -limit) return INT64_MIN;
  return who.exp * 1000;
}

bool token_expired(const identity& who, int64_t now_ms) { return expiry_ms(who) <= now_ms; }

int64_t ms_until_expiry(const identity& who, int64_t now_ms, int64_t cap) {
  const int64_t at = expiry_ms(who);
  if (at <= now_ms) return 0;
  // at > now_ms: the difference overflows only when it is above any cap anyway.
  if (now_ms < 0 && at > INT64_MAX + now_ms) return cap;
  const int64_t left = at - now_ms;
  return left < cap ? left : cap;
}

const char* auth_failure_message(auth_failure f) {
  switch (f) {
    case auth_failure::missing: return "Authentication required";
    case auth_failure::invalid: return "Invalid token";
    case auth_failure::expired: return "Token expired";
  }
  return "Invalid token";
}

const char* auth_failure_label(auth_failure f) {
  switch (f) {
    case auth_failure::missing: return "missing";
    case auth_failure::invalid: return "invalid";
    case auth_failure::expired: return "expired";
  }
  return "invalid";
}

const char* auth_reason_label(auth_reason r) {
  switch (r) {
    case auth_reason::none: return "none";
    case auth_reason::missing: return "missing";
    case auth_reason::malformed: return "malformed";
    case auth_reason::wrong_algorithm: return "wrong_algorithm";
    case auth_reason::bad_signature: return "bad_signature";
    case auth_reason::bad_claims: return "bad_claims";
    case auth_reason::not_yet_valid: return "not_yet_valid";
    case auth_reason::expired: return "expired";
    case auth_reason::no_key: return "no_key";
  }
  return "malformed";
}

// -- verification ------------------------------------------------------------

std::variant<identity, auth_failure> verify_token(std::string_view token, const jwt_config& cfg,
                                                  int64_t now_sec, auth_reason* reason) {
  auth_reason ignored = auth_reason::none;
  auth_reason& why = reason != nullptr ? *reason : ignored;
  auto refuse = [&why](auth_reason r) {
    why = r;
    return auth_failure::invalid;
  };
  if (token.empty()) {
    why = auth_reason::missing;
    return auth_failure::missing;
  }
  if (token.size() > max_token_length) return refuse(auth_reason::malformed);
  auto v = select_verifier(cfg);
  if (!v) return refuse(auth_reason::no_key);
  if (auth_reason r = header_acceptable(token, *v); r != auth_reason::none) return refuse(r);

  const std::string token_text(token); // libjwt wants a NUL-terminated string
  auto decode = [&token_text](const std::string& key) {
    jwt_t* raw = nullptr;
    int rc = jwt_decode(&raw, token_text.c_str(), reinterpret_cast<const unsigned char*>(key.data()),
                        static_cast<int>(key.size()));
    jwt_ptr decoded(raw);
    if (rc != 0) decoded.reset();
    return decoded;
  };
  jwt_ptr decoded = decode(*v->key);
  // During a rotation a token signed with the previous HS256 secret still verifies.
  if (!decoded && v->alg == JWT_ALG_HS256 && !cfg.previous_hs256_secret.empty())
    decoded = decode(cfg.previous_hs256_secret);
  // The shape and header were checked above, so what libjwt refuses is the signature (or a body
  // that is not a JSON object).
  if (!decoded) return refuse(auth_reason::bad_signature);
  // Belt and braces: the algorithm libjwt actually verified with must be the configured one.
  if (jwt_get_alg(decoded.get()) != v->alg) return refuse(auth_reason::wrong_algorithm);

  c_string_ptr claims_text(jwt_get_grants_json(decoded.get(), nullptr));
  if (!claims_text) return refuse(auth_reason::bad_claims);
  std::string error;
  auto claims = json::parse(claims_text.get(), &error);
  if (!claims) return refuse(auth_reason::bad_claims);
  return identity_from_claims(*claims, now_sec, why);
}

std::optional<std::string> bearer_token(std::string_view header_value) {
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!header_value.empty() && is_space(header_value.front())) header_value.remove_prefix(1);
  while (!header_value.empty() && is_space(header_value.back())) header_value.remove_suffix(1);
  constexpr std::string_view scheme = "bearer";
  if (header_value.size() <= scheme.size()) return std::nullopt;
  for (size_t i = 0; i < scheme.size(); ++i) {
    char c = header_value[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != scheme[i]) return std::nullopt;
  }
  std::string_view rest = header_value.substr(scheme.size());
  if (rest.empty() || !is_space(rest.front())) return std::nullopt; // "Bearerx…"
  while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
  if (rest.empty()) return std::nullopt;
  for (char c : rest)
    if (is_space(c)) return std::nullopt; // a token never contains whitespace
  return std::string(rest);
}

std::string mint_hs256(const std::string& secret, const identity& who, int64_t iat_sec) {
  if (secret.empty()) return {};
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return {};
  jwt_ptr token(raw);

  // Claims go in as one JSON object so every type (array, integers) is exact.
  json::value claims = json::value::make_object();
  claims.set("sub", who.sub);
  if (who.name) claims.set("name", *who.name);
  claims.set("role", role_name(who.user_role));
  json::value hospitals = json::value::make_array();
  for (const std::string& h : who.hospitals) hospitals.push(h);
  claims.set("hospitals", std::move(hospitals));
  claims.set("iat", iat_sec);
  claims.set("exp", who.exp);
  const std::string claims_text = json::to_string(claims);

  if (jwt_add_grants_json(token.get(), claims_text.c_str()) != 0) return {};
  if (jwt_set_alg(token.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret.data()),
                  static_cast<int>(secret.size())) != 0)
    return {};
  c_string_ptr encoded(jwt_encode_str(token.get()));
  if (!encoded) return {};
  return std::string(encoded.get());
}

} // namespace vigil
