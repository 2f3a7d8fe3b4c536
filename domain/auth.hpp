#pragma once
// Identity, roles, permissions and JWT verification (libjwt). docs/api.md "Authentication",
// "Authorization and tenancy".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace vigil {

enum class role { admin, head_doctor, doctor, nurse, operator_, viewer };

/// "admin", "head_doctor", "doctor", "nurse", "operator", "viewer".
const char* role_name(role r);
std::optional<role> parse_role(std::string_view s);

enum class permission { view, create, update, acknowledge, escalate };

/// "view_alerts", "create_alerts", "update_alerts", "acknowledge_alerts", "escalate_alerts".
const char* permission_name(permission p);
/// The permission table (docs/api.md "Authorization and tenancy").
bool role_has(role r, permission p);

/// Who is calling, from a verified token.
struct identity {
  std::string sub;
  std::optional<std::string> name;
  role user_role = role::viewer;
  std::vector<std::string> hospitals;
  int64_t exp = 0; // seconds since the epoch
  bool has_hospital(std::string_view h) const;
};

/// When the token of `who` expires, in milliseconds since the epoch: `exp * 1000`, saturated at
/// the int64 limits instead of overflowing (`exp` can be any number a token carries).
int64_t expiry_ms(const identity& who);
/// True once the token of `who` has expired at `now_ms` (milliseconds since the epoch).
bool token_expired(const identity& who, int64_t now_ms);
/// Milliseconds from `now_ms` until the token of `who` expires, clamped to [0, cap].
int64_t ms_until_expiry(const identity& who, int64_t now_ms, int64_t cap);

enum class auth_failure { missing, invalid, expired };

/// "Authentication required", "Invalid token", "Token expired".
const char* auth_failure_message(auth_failure f);
/// "missing", "invalid", "expired" (for metrics labels and logs).
const char* auth_failure_label(auth_failure f);

/// Why a token was refused, finer than auth_failure, for the operator's log (a client only
/// learns the auth_failure message).
enum class auth_reason {
  none,            // not refused
  missing,         // no token
  malformed,       // not three base64url segments with a JSON header, or over 16 KiB
  wrong_algorithm, // `alg` other than the configured one, or a `crit` header
  bad_signature,   // the signature does not verify (or the body is not a JSON object)
  bad_claims,      // a required claim is missing or of the wrong type, or an unknown role
  not_yet_valid,   // `nbf` or `iat` in the future
  expired,         // `exp` reached
  no_key,          // the configuration cannot verify any token
};

/// "none", "missing", "malformed", "wrong_algorithm", "bad_signature", "bad_claims",
/// "not_yet_valid", "expired", "no_key".
const char* auth_reason_label(auth_reason r);

/// How tokens are verified. With `public_key_pem` set, `algorithm` ("RS256" or "ES256") is the
/// only accepted alg and HS256 is refused; otherwise HS256 with `hs256_secret`, or, during a
/// rotation, `previous_hs256_secret` (empty = none).
struct jwt_config {
  std::string hs256_secret = "dev-secret-change-me";
  std::string previous_hs256_secret;
  std::string public_key_pem;
  std::string algorithm = "HS256";
};

/// Verifies signature (under HS256: with the current secret, else the previous one), `alg`, and claims (`sub` non-empty string, `role` known, `hospitals` array
/// of strings, `exp` number required, `nbf`/`iat` not in the future, `name` optional string).
/// No clock leeway. `now_sec` is the current time in seconds. `reason`, when given, receives
/// why the token was refused (auth_reason::none when it was not).
std::variant<identity, auth_failure> verify_token(std::string_view token, const jwt_config& cfg,
                                                  int64_t now_sec, auth_reason* reason = nullptr);

/// Extracts the token from an `Authorization` value (`Bearer <jwt>`, scheme case-insensitive);
/// nullopt when the value is not of that form.
std::optional<std::string> bearer_token(std::string_view header_value);

/// Mints an HS256 token (for vigilctl token and tests).
std::string mint_hs256(const std::string& secret, const identity& who, int64_t iat_sec);

} // namespace vigil
