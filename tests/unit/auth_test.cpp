// JWT verification, bearer parsing, roles and the permission table (docs/api.md "Authentication",
// "Authorization and tenancy").

#include "domain/auth.hpp"
#include "domain/json.hpp"

#include <gtest/gtest.h>
#include <jwt.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

namespace vigil {
namespace {

constexpr int64_t now = 1767607200; // 2026-01-05T10:00:00Z
const std::string secret = "test-secret-0123456789";

std::string read_file(const std::string& name) {
  std::ifstream in(std::string(VIGIL_TESTDATA_DIR) + "/keys/" + name, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string b64url(std::string_view in) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(digits[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(digits[(acc << (6 - bits)) & 63]);
  return out;
}

/// Signs `claims` (a JSON object text) with libjwt; `headers` adds header members.
std::string sign(jwt_alg_t alg, const std::string& key, const std::string& claims,
                 const std::string& headers = "") {
  jwt_t* raw = nullptr;
  EXPECT_EQ(jwt_new(&raw), 0);
  std::unique_ptr<jwt_t, void (*)(jwt_t*)> j(raw, jwt_free);
  EXPECT_EQ(jwt_add_grants_json(j.get(), claims.c_str()), 0) << claims;
  if (!headers.empty()) {
    EXPECT_EQ(jwt_add_headers_json(j.get(), headers.c_str()), 0);
  }
  EXPECT_EQ(jwt_set_alg(j.get(), alg, reinterpret_cast<const unsigned char*>(key.data()),
                        static_cast<int>(key.size())),
            0);
  char* text = jwt_encode_str(j.get());
  EXPECT_NE(text, nullptr);
  std::string out = text ? text : "";
  std::free(text);
  return out;
}

/// A complete, valid claim set as JSON text. `overrides` is a list of members in JSON syntax
/// with a leading comma (",\"role\":\"admin\",\"exp\":1"); each replaces or adds one claim.
std::string claims_with(const std::string& overrides) {
  json::value claims = json::value::make_object();
  claims.set("sub", "u-nurse-7");
  claims.set("name", "Ann Lee");
  claims.set("role", "nurse");
  claims.set("hospitals", json::value(json::array_t{json::value("h1"), json::value("h2")}));
  claims.set("iat", now - 10);
  claims.set("exp", now + 3600);
  if (!overrides.empty()) {
    std::string error;
    auto extra = json::parse("{" + overrides.substr(1) + "}", &error);
    EXPECT_TRUE(extra.has_value()) << overrides << ": " << error;
    if (extra)
      for (const auto& [key, value] : extra->as_object()) claims.set(key, value);
  }
  return json::to_string(claims);
}

std::string hs256(const std::string& claims) { return sign(JWT_ALG_HS256, secret, claims); }

jwt_config hs_config() {
  jwt_config c;
  c.hs256_secret = secret;
  return c;
}

jwt_config rs_config() {
  jwt_config c;
  c.public_key_pem = read_file("rsa_public.pem");
  c.algorithm = "RS256";
  return c;
}

jwt_config es_config() {
  jwt_config c;
  c.public_key_pem = read_file("ec_public.pem");
  c.algorithm = "ES256";
  return c;
}

auth_failure failure_of(const std::variant<identity, auth_failure>& r) {
  if (auto* f = std::get_if<auth_failure>(&r)) return *f;
  ADD_FAILURE() << "token was accepted";
  return auth_failure::missing;
}

// -- valid tokens --------------------------------------------------------------------------------

TEST(VerifyToken, AcceptsValidHs256Token) {
  auto r = verify_token(hs256(claims_with("")), hs_config(), now);
  ASSERT_TRUE(std::holds_alternative<identity>(r));
  const identity& who = std::get<identity>(r);
  EXPECT_EQ(who.sub, "u-nurse-7");
  ASSERT_TRUE(who.name.has_value());
  EXPECT_EQ(*who.name, "Ann Lee");
  EXPECT_EQ(who.user_role, role::nurse);
  EXPECT_EQ(who.hospitals, (std::vector<std::string>{"h1", "h2"}));
  EXPECT_EQ(who.exp, now + 3600);
  EXPECT_TRUE(who.has_hospital("h2"));
  EXPECT_FALSE(who.has_hospital("h3"));
  EXPECT_FALSE(who.has_hospital("H1"));
}

TEST(VerifyToken, NameIsOptionalAndNullMeansAbsent) {
  auto without = verify_token(
    hs256("{\"sub\":\"u1\",\"role\":\"viewer\",\"hospitals\":[],\"exp\":" +
          std::to_string(now + 60) + "}"),
    hs_config(), now);
  ASSERT_TRUE(std::holds_alternative<identity>(without));
  EXPECT_FALSE(std::get<identity>(without).name.has_value());
  EXPECT_TRUE(std::get<identity>(without).hospitals.empty());

  auto with_null = verify_token(hs256(claims_with(",\"name\":null")), hs_config(), now);
  ASSERT_TRUE(std::holds_alternative<identity>(with_null));
  EXPECT_FALSE(std::get<identity>(with_null).name.has_value());
}

TEST(VerifyToken, IgnoresOtherClaims) {
  auto r = verify_token(hs256(claims_with(",\"iss\":\"idp\",\"extra\":{\"a\":[1,2]}")),
                        hs_config(), now);
  EXPECT_TRUE(std::holds_alternative<identity>(r));
}

TEST(VerifyToken, AcceptsEveryRole) {
  for (const char* name : {"admin", "head_doctor", "doctor", "nurse", "operator", "viewer"}) {
    auto r = verify_token(hs256(claims_with(std::string(",\"role\":\"") + name + "\"")),
                          hs_config(), now);
    ASSERT_TRUE(std::holds_alternative<identity>(r)) << name;
    EXPECT_STREQ(role_name(std::get<identity>(r).user_role), name);
  }
}

TEST(VerifyToken, FractionalNumericDatesAreNumbers) {
  auto r = verify_token(hs256(claims_with(",\"exp\":" + std::to_string(now) + ".5")),
                        hs_config(), now);
  ASSERT_TRUE(std::holds_alternative<identity>(r));
  EXPECT_EQ(std::get<identity>(r).exp, now);
}

// -- time claims ---------------------------------------------------------------------------------

TEST(VerifyToken, ExpiredWhenExpIsNowOrPast) {
  EXPECT_EQ(failure_of(verify_token(hs256(claims_with(",\"exp\":" + std::to_string(now))),
                                    hs_config(), now)),
            auth_failure::expired);
  EXPECT_EQ(failure_of(verify_token(hs256(claims_with(",\"exp\":" + std::to_string(now - 100))),
                                    hs_config(), now)),
            auth_failure::expired);
  auto one_second_left = verify_token(hs256(claims_with(",\"exp\":" + std::to_string(now + 1))),
                                      hs_config(), now);
  EXPECT_TRUE(std::holds_alternative<identity>(one_second_left));
}

TEST(VerifyToken, ExpIsRequiredAndNumeric) {
  const std::string no_exp = "{\"sub\":\"u1\",\"role\":\"nurse\",\"hospitals\":[\"h1\"]}";
  EXPECT_EQ(failure_of(verify_token(hs256(no_exp), hs_config(), now)), auth_failure::invalid);
  EXPECT_EQ(failure_of(verify_token(hs256(claims_with(",\"exp\":\"9999999999\"")), hs_config(),
                                    now)),
            auth_failure::invalid);
  EXPECT_EQ(failure_of(verify_token(hs256(claims_with(",\"exp\":null")), hs_config(), now)),
            auth_failure::invalid);
  EXPECT_EQ(failure_of(verify_token(hs256(claims_with(",\"exp\":true")), hs_config(), now)),
            auth_failure::invalid);
}

TEST(VerifyToken, NotBeforeInTheFutureIsInvalid) {
  EXPECT_EQ(failure_of(verify_token(hs256(claims_with(",\"nbf\":" + std::to_string(now + 1))),
                                    hs_config(), now)),
            auth_failure::invalid);
  auto at_now = verify_token(hs256(claims_with(",\"nbf\":" + std::to_string(now))), hs_config(),
                             now);
  EXPECT_TRUE(std::holds_alternative<identity>(at_now));
  EXPECT_EQ(failure_of(verify_token(hs256(claims_with(",\"nbf\":\"soon\"")), hs_config(), now)),
            auth_failure::invalid);
}

TEST(VerifyToken, IssuedInTheFutureIsInvalid) {
  EXPECT_EQ(failure_of(verify_token(hs256(claims_with(",\"iat\":" + std::to_string(now + 1))),
                                    hs_config(), now)),
            auth_failure::invalid);
  auto at_now = verify_token(hs256(claims_with(",\"iat\":" + std::to_string(now))), hs_config(),
                             now);
  EXPECT_TRUE(std::holds_alternative<identity>(at_now));
  EXPECT_EQ(failure_of(verify_token(hs256(claims_with(",\"iat\":[1]")), hs_config(), now)),
            auth_failure::invalid);
}

// -- signatures and algorithms -------------------------------------------------------------------

TEST(VerifyToken, BadSignatureIsInvalid) {
  std::string token = hs256(claims_with(""));
  // Flip one character in the middle of the signature (the last one may only carry padding bits).
  size_t pos = token.rfind('.') + 5;
  token[pos] = token[pos] == 'A' ? 'B' : 'A';
  EXPECT_EQ(failure_of(verify_token(token, hs_config(), now)), auth_failure::invalid);
}

TEST(VerifyToken, TamperedPayloadIsInvalid) {
  std::string token = hs256(claims_with(""));
  std::string other = hs256(claims_with(",\"role\":\"admin\""));
  size_t a1 = token.find('.'), a2 = token.rfind('.');
  size_t b1 = other.find('.'), b2 = other.rfind('.');
  std::string spliced = token.substr(0, a1) + other.substr(b1, b2 - b1) + token.substr(a2);
  EXPECT_EQ(failure_of(verify_token(spliced, hs_config(), now)), auth_failure::invalid);
}

TEST(VerifyToken, WrongSecretIsInvalid) {
  std::string token = sign(JWT_ALG_HS256, "another-secret", claims_with(""));
  EXPECT_EQ(failure_of(verify_token(token, hs_config(), now)), auth_failure::invalid);
}

// -- rotation: the previous HS256 secret -----------------------------------------------------------

TEST(VerifyToken, PreviousSecretVerifiesDuringRotation) {
  jwt_config c = hs_config();
  c.hs256_secret = "new-secret";
  c.previous_hs256_secret = secret;
  // Signed with the previous secret, with the current one, with neither.
  EXPECT_TRUE(std::holds_alternative<identity>(verify_token(hs256(claims_with("")), c, now)));
  std::string fresh = sign(JWT_ALG_HS256, "new-secret", claims_with(""));
  EXPECT_TRUE(std::holds_alternative<identity>(verify_token(fresh, c, now)));
  auth_reason why = auth_reason::none;
  std::string other = sign(JWT_ALG_HS256, "a-third-secret", claims_with(""));
  EXPECT_EQ(failure_of(verify_token(other, c, now, &why)), auth_failure::invalid);
  EXPECT_EQ(why, auth_reason::bad_signature);
}

TEST(VerifyToken, RemovedPreviousSecretNoLongerVerifies) {
  jwt_config c = hs_config();
  c.hs256_secret = "new-secret";
  auth_reason why = auth_reason::none;
  EXPECT_EQ(failure_of(verify_token(hs256(claims_with("")), c, now, &why)), auth_failure::invalid);
  EXPECT_EQ(why, auth_reason::bad_signature);
}

TEST(VerifyToken, PreviousSecretStillChecksClaimsAndExpiry) {
  jwt_config c = hs_config();
  c.hs256_secret = "new-secret";
  c.previous_hs256_secret = secret;
  std::string expired = hs256("{\"sub\":\"u\",\"role\":\"nurse\",\"hospitals\":[],\"exp\":" +
                              std::to_string(now - 1) + "}");
  EXPECT_EQ(failure_of(verify_token(expired, c, now)), auth_failure::expired);
}

TEST(VerifyToken, PreviousSecretIsIgnoredUnderAsymmetricAlgorithms) {
  jwt_config c = rs_config();
  c.previous_hs256_secret = secret;
  EXPECT_EQ(failure_of(verify_token(hs256(claims_with("")), c, now)), auth_failure::invalid);
}

TEST(VerifyToken, AlgNoneIsRefused) {
  const std::string header = b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}");
  const std::string payload = b64url(claims_with(""));
  EXPECT_EQ(failure_of(verify_token(header + "." + payload + ".", hs_config(), now)),
            auth_failure::invalid);
  // Same, with a signature segment present, and with other spellings of none.
  const std::string sig = hs256(claims_with("")).substr(hs256(claims_with("")).rfind('.') + 1);
  EXPECT_EQ(failure_of(verify_token(header + "." + payload + "." + sig, hs_config(), now)),
            auth_failure::invalid);
  for (const char* alg : {"None", "NONE", "nOnE", ""}) {
    const std::string h = b64url(std::string("{\"alg\":\"") + alg + "\"}");
    EXPECT_EQ(failure_of(verify_token(h + "." + payload + ".", hs_config(), now)),
              auth_failure::invalid)
      << alg;
  }
  // Also refused under an asymmetric configuration.
  EXPECT_EQ(failure_of(verify_token(header + "." + payload + ".", rs_config(), now)),
            auth_failure::invalid);
}

TEST(VerifyToken, MissingAlgIsRefused) {
  const std::string header = b64url("{\"typ\":\"JWT\"}");
  const std::string payload = b64url(claims_with(""));
  EXPECT_EQ(failure_of(verify_token(header + "." + payload + ".", hs_config(), now)),
            auth_failure::invalid);
  EXPECT_EQ(failure_of(verify_token(header + "." + payload + ".c2ln", hs_config(), now)),
            auth_failure::invalid);
}

TEST(VerifyToken, OtherHmacAlgorithmsAreRefusedUnderHs256) {
  EXPECT_EQ(failure_of(verify_token(sign(JWT_ALG_HS384, secret, claims_with("")), hs_config(),
                                    now)),
            auth_failure::invalid);
  EXPECT_EQ(failure_of(verify_token(sign(JWT_ALG_HS512, secret, claims_with("")), hs_config(),
                                    now)),
            auth_failure::invalid);
}

TEST(VerifyToken, AsymmetricTokensAreRefusedUnderHs256) {
  std::string rs = sign(JWT_ALG_RS256, read_file("rsa_private.pem"), claims_with(""));
  EXPECT_EQ(failure_of(verify_token(rs, hs_config(), now)), auth_failure::invalid);
}

TEST(VerifyToken, AcceptsRs256WhenConfigured) {
  std::string token = sign(JWT_ALG_RS256, read_file("rsa_private.pem"), claims_with(""));
  auto r = verify_token(token, rs_config(), now);
  ASSERT_TRUE(std::holds_alternative<identity>(r));
  EXPECT_EQ(std::get<identity>(r).sub, "u-nurse-7");
}

TEST(VerifyToken, AcceptsEs256WhenConfigured) {
  std::string token = sign(JWT_ALG_ES256, read_file("ec_private.pem"), claims_with(""));
  auto r = verify_token(token, es_config(), now);
  ASSERT_TRUE(std::holds_alternative<identity>(r));
  EXPECT_EQ(std::get<identity>(r).user_role, role::nurse);
}

TEST(VerifyToken, AlgorithmConfusionWithPublicKeyAsHmacSecretIsRefused) {
  // The classic attack: HS256 "signed" with the server's public key text as the HMAC secret.
  const std::string pem = read_file("rsa_public.pem");
  ASSERT_FALSE(pem.empty());
  std::string forged = sign(JWT_ALG_HS256, pem, claims_with(""));
  EXPECT_EQ(failure_of(verify_token(forged, rs_config(), now)), auth_failure::invalid);

  const std::string ec_pem = read_file("ec_public.pem");
  std::string forged_ec = sign(JWT_ALG_HS256, ec_pem, claims_with(""));
  EXPECT_EQ(failure_of(verify_token(forged_ec, es_config(), now)), auth_failure::invalid);
}

TEST(VerifyToken, OtherAsymmetricAlgorithmsAreRefused) {
  // RS256-configured server, ES256 token (and RS512 with the right RSA key).
  std::string es = sign(JWT_ALG_ES256, read_file("ec_private.pem"), claims_with(""));
  EXPECT_EQ(failure_of(verify_token(es, rs_config(), now)), auth_failure::invalid);
  std::string rs512 = sign(JWT_ALG_RS512, read_file("rsa_private.pem"), claims_with(""));
  EXPECT_EQ(failure_of(verify_token(rs512, rs_config(), now)), auth_failure::invalid);
}

TEST(VerifyToken, Hs256RefusedWhenPublicKeyConfigured) {
  // Even a token signed with the (still set) HS256 secret: the public key makes HS256 illegal.
  jwt_config c = rs_config();
  c.hs256_secret = secret;
  EXPECT_EQ(failure_of(verify_token(hs256(claims_with("")), c, now)), auth_failure::invalid);
  // A public key with algorithm left at HS256 is a misconfiguration: nothing verifies.
  jwt_config confused = rs_config();
  confused.algorithm = "HS256";
  EXPECT_EQ(failure_of(verify_token(sign(JWT_ALG_HS256, confused.public_key_pem, claims_with("")),
                                    confused, now)),
            auth_failure::invalid);
}

TEST(VerifyToken, EmptySecretVerifiesNothing) {
  jwt_config c;
  c.hs256_secret.clear();
  // libjwt skips verification without a key; we must not.
  const std::string token = hs256(claims_with(""));
  EXPECT_EQ(failure_of(verify_token(token, c, now)), auth_failure::invalid);
}

TEST(VerifyToken, AlgHeaderCaseMatters) {
  const std::string good = hs256(claims_with(""));
  const std::string header = b64url("{\"alg\":\"hs256\",\"typ\":\"JWT\"}");
  std::string token = header + good.substr(good.find('.'));
  EXPECT_EQ(failure_of(verify_token(token, hs_config(), now)), auth_failure::invalid);
}

TEST(VerifyToken, CriticalHeaderExtensionsAreRefused) {
  std::string token = sign(JWT_ALG_HS256, secret, claims_with(""), "{\"crit\":[\"exp\"]}");
  EXPECT_EQ(failure_of(verify_token(token, hs_config(), now)), auth_failure::invalid);
}

// -- claim types ---------------------------------------------------------------------------------

TEST(VerifyToken, WrongClaimTypesAreInvalid) {
  const char* cases[] = {
    ",\"role\":\"superuser\"",      // unknown role
    ",\"role\":\"Nurse\"",          // roles are case-sensitive
    ",\"role\":\"operator_\"",      // the C++ spelling is not a role
    ",\"role\":3",                  // not a string
    ",\"role\":null",
    ",\"hospitals\":\"h1\"",        // not an array
    ",\"hospitals\":{\"0\":\"h1\"}",
    ",\"hospitals\":[\"h1\",5]",    // a number inside
    ",\"hospitals\":[null]",
    ",\"hospitals\":[[\"h1\"]]",
    ",\"sub\":\"\"",                // empty sub
    ",\"sub\":42",
    ",\"sub\":null",
    ",\"name\":7",                  // name present but not a string
  };
  for (const char* c : cases)
    EXPECT_EQ(failure_of(verify_token(hs256(claims_with(c)), hs_config(), now)),
              auth_failure::invalid)
      << c;
}

TEST(VerifyToken, MissingRequiredClaimsAreInvalid) {
  const std::string exp = ",\"exp\":" + std::to_string(now + 60);
  const std::string cases[] = {
    "{\"role\":\"nurse\",\"hospitals\":[]" + exp + "}",
    "{\"sub\":\"u\",\"hospitals\":[]" + exp + "}",
    "{\"sub\":\"u\",\"role\":\"nurse\"" + exp + "}",
  };
  for (const std::string& c : cases)
    EXPECT_EQ(failure_of(verify_token(hs256(c), hs_config(), now)), auth_failure::invalid)
      << c;
}

// -- malformed strings ---------------------------------------------------------------------------

TEST(VerifyToken, EmptyTokenIsMissing) {
  EXPECT_EQ(failure_of(verify_token("", hs_config(), now)), auth_failure::missing);
}

TEST(VerifyToken, MalformedTokensAreInvalid) {
  const std::string good = hs256(claims_with(""));
  const size_t dot1 = good.find('.');
  const size_t dot2 = good.rfind('.');
  const std::string head = good.substr(0, dot1);
  const std::string body = good.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string sig = good.substr(dot2 + 1);
  const std::string cases[] = {
    "garbage",
    "a.b",
    head + "." + body,                           // two segments
    head + "." + body + "." + sig + ".extra",    // four segments
    "..",
    head + ".." + sig,                           // empty payload
    "." + body + "." + sig,                      // empty header
    head + "." + body + "." + sig + "=",         // padding is not base64url
    head + "." + body + "!" + "." + sig,         // bad base64 character
    head + "." + body.substr(0, body.size() - 1) + "+." + sig,
    head + "." + b64url("not json") + "." + sig,
    head + "." + b64url("[1,2]") + "." + sig,    // payload not an object
    b64url("not json") + "." + body + "." + sig, // header not JSON
    b64url("[\"HS256\"]") + "." + body + "." + sig,
    " " + good,                                  // surrounding whitespace is not trimmed here
    good + "\n",
    std::string("Bearer ") + good,
    good.substr(0, 10) + std::string(1, '\0') + good.substr(10),
    std::string(20000, 'a') + "." + body + "." + sig, // absurdly long
  };
  for (const std::string& c : cases)
    EXPECT_EQ(failure_of(verify_token(c, hs_config(), now)), auth_failure::invalid)
      << c.substr(0, 80);
  // The unmodified token still passes, so the cases above fail for their own reason.
  EXPECT_TRUE(std::holds_alternative<identity>(verify_token(good, hs_config(), now)));
}

// -- minting -------------------------------------------------------------------------------------

TEST(MintHs256, RoundTripsThroughVerify) {
  identity who;
  who.sub = "u-doc-1";
  who.name = "Dr. \"Quote\" Ünïcode";
  who.user_role = role::operator_;
  who.hospitals = {"h-1", "h.2"};
  who.exp = now + 600;
  std::string token = mint_hs256(secret, who, now - 5);
  ASSERT_FALSE(token.empty());
  auto r = verify_token(token, hs_config(), now);
  ASSERT_TRUE(std::holds_alternative<identity>(r));
  const identity& back = std::get<identity>(r);
  EXPECT_EQ(back.sub, who.sub);
  EXPECT_EQ(back.name, who.name);
  EXPECT_EQ(back.user_role, role::operator_);
  EXPECT_EQ(back.hospitals, who.hospitals);
  EXPECT_EQ(back.exp, who.exp);
}

TEST(MintHs256, WritesTheDocumentedClaims) {
  identity who;
  who.sub = "u1";
  who.user_role = role::viewer;
  who.hospitals = {"h1"};
  who.exp = now + 60;
  std::string token = mint_hs256(secret, who, now);
  jwt_t* raw = nullptr;
  ASSERT_EQ(jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(secret.data()),
                       static_cast<int>(secret.size())),
            0);
  std::unique_ptr<jwt_t, void (*)(jwt_t*)> j(raw, jwt_free);
  EXPECT_EQ(jwt_get_alg(j.get()), JWT_ALG_HS256);
  EXPECT_STREQ(jwt_get_grant(j.get(), "sub"), "u1");
  EXPECT_STREQ(jwt_get_grant(j.get(), "role"), "viewer");
  EXPECT_EQ(jwt_get_grant(j.get(), "name"), nullptr); // no name given: no claim
  EXPECT_EQ(jwt_get_grant_int(j.get(), "iat"), now);
  EXPECT_EQ(jwt_get_grant_int(j.get(), "exp"), now + 60);
  char* hospitals = jwt_get_grants_json(j.get(), "hospitals");
  ASSERT_NE(hospitals, nullptr);
  EXPECT_STREQ(hospitals, "[\"h1\"]");
  std::free(hospitals);
}

TEST(MintHs256, EmptySecretMintsNothing) {
  identity who;
  who.sub = "u1";
  who.exp = now + 60;
  EXPECT_EQ(mint_hs256("", who, now), "");
}

TEST(MintHs256, WrongSecretDoesNotVerify) {
  identity who;
  who.sub = "u1";
  who.exp = now + 60;
  EXPECT_EQ(failure_of(verify_token(mint_hs256("other", who, now), hs_config(), now)),
            auth_failure::invalid);
}

// -- bearer --------------------------------------------------------------------------------------

TEST(BearerToken, ExtractsTheToken) {
  EXPECT_EQ(bearer_token("Bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(bearer_token("bearer abc"), "abc");
  EXPECT_EQ(bearer_token("BEARER abc"), "abc");
  EXPECT_EQ(bearer_token("BeArEr abc"), "abc");
  EXPECT_EQ(bearer_token("Bearer    abc"), "abc");
  EXPECT_EQ(bearer_token("Bearer\tabc"), "abc");
  EXPECT_EQ(bearer_token("  Bearer abc  "), "abc");
}

TEST(BearerToken, RejectsOtherForms) {
  EXPECT_EQ(bearer_token(""), std::nullopt);
  EXPECT_EQ(bearer_token("Bearer"), std::nullopt);
  EXPECT_EQ(bearer_token("Bearer "), std::nullopt);
  EXPECT_EQ(bearer_token("Bearer    "), std::nullopt);
  EXPECT_EQ(bearer_token("Bearerabc"), std::nullopt);
  EXPECT_EQ(bearer_token("Basic dXNlcjpwYXNz"), std::nullopt);
  EXPECT_EQ(bearer_token("Token abc"), std::nullopt);
  EXPECT_EQ(bearer_token("abc.def.ghi"), std::nullopt);
  EXPECT_EQ(bearer_token("Bearer abc def"), std::nullopt);
  EXPECT_EQ(bearer_token("Bearers abc"), std::nullopt);
}

// -- roles and permissions -----------------------------------------------------------------------

TEST(Roles, NamesRoundTrip) {
  for (role r : {role::admin, role::head_doctor, role::doctor, role::nurse, role::operator_,
                 role::viewer}) {
    auto back = parse_role(role_name(r));
    ASSERT_TRUE(back.has_value()) << role_name(r);
    EXPECT_EQ(*back, r);
  }
  EXPECT_STREQ(role_name(role::operator_), "operator");
  EXPECT_EQ(parse_role("operator"), role::operator_);
  EXPECT_EQ(parse_role("operator_"), std::nullopt);
  EXPECT_EQ(parse_role("Admin"), std::nullopt);
  EXPECT_EQ(parse_role(""), std::nullopt);
  EXPECT_EQ(parse_role("admin "), std::nullopt);
}

TEST(Permissions, Names) {
  EXPECT_STREQ(permission_name(permission::view), "view_alerts");
  EXPECT_STREQ(permission_name(permission::create), "create_alerts");
  EXPECT_STREQ(permission_name(permission::update), "update_alerts");
  EXPECT_STREQ(permission_name(permission::acknowledge), "acknowledge_alerts");
  EXPECT_STREQ(permission_name(permission::escalate), "escalate_alerts");
}

TEST(Permissions, TableMatchesApiSection4) {
  struct row {
    role r;
    bool view, create, update, acknowledge, escalate;
  };
  const row table[] = {
    {role::admin, true, true, true, true, true},
    {role::head_doctor, true, true, true, true, true},
    {role::doctor, true, true, true, true, false},
    {role::nurse, true, true, true, true, false},
    {role::operator_, true, true, true, false, false},
    {role::viewer, true, false, false, false, false},
  };
  for (const row& x : table) {
    SCOPED_TRACE(role_name(x.r));
    EXPECT_EQ(role_has(x.r, permission::view), x.view);
    EXPECT_EQ(role_has(x.r, permission::create), x.create);
    EXPECT_EQ(role_has(x.r, permission::update), x.update);
    EXPECT_EQ(role_has(x.r, permission::acknowledge), x.acknowledge);
    EXPECT_EQ(role_has(x.r, permission::escalate), x.escalate);
  }
}

TEST(AuthFailure, MessagesAndLabels) {
  EXPECT_STREQ(auth_failure_message(auth_failure::missing), "Authentication required");
  EXPECT_STREQ(auth_failure_message(auth_failure::invalid), "Invalid token");
  EXPECT_STREQ(auth_failure_message(auth_failure::expired), "Token expired");
  EXPECT_STREQ(auth_failure_label(auth_failure::missing), "missing");
  EXPECT_STREQ(auth_failure_label(auth_failure::invalid), "invalid");
  EXPECT_STREQ(auth_failure_label(auth_failure::expired), "expired");
}

} // namespace
TEST(TokenExpiry, HugeExpDoesNotOverflow) {
  // exp * 1000 overflowed int64 for exp >= 9.22e15 (undefined behaviour; in practice a token
  // that never expires came out as long expired, or the reverse).
  constexpr int64_t now_ms = now * 1000;
  constexpr int64_t day_ms = 86400000;
  for (const int64_t exp : {int64_t{9300000000000000}, int64_t{9223372036854776},
                            INT64_MAX / 1000 + 1, INT64_MAX - 1, INT64_MAX}) {
    identity who;
    who.exp = exp;
    EXPECT_EQ(expiry_ms(who), INT64_MAX) << exp;
    EXPECT_FALSE(token_expired(who, now_ms)) << exp;
    EXPECT_FALSE(token_expired(who, INT64_MAX - 1)) << exp;
    EXPECT_EQ(ms_until_expiry(who, now_ms, day_ms), day_ms) << exp;
    EXPECT_EQ(ms_until_expiry(who, -now_ms, day_ms), day_ms) << exp;
    EXPECT_EQ(ms_until_expiry(who, INT64_MIN, INT64_MAX), INT64_MAX) << exp;
  }
  for (const int64_t exp : {int64_t{-9300000000000000}, INT64_MIN + 1, INT64_MIN}) {
    identity who;
    who.exp = exp;
    EXPECT_EQ(expiry_ms(who), INT64_MIN) << exp;
    EXPECT_TRUE(token_expired(who, now_ms)) << exp;
    EXPECT_TRUE(token_expired(who, INT64_MIN)) << exp;
    EXPECT_EQ(ms_until_expiry(who, now_ms, day_ms), 0) << exp;
  }
  identity largest_exact;
  largest_exact.exp = INT64_MAX / 1000;
  EXPECT_EQ(expiry_ms(largest_exact), INT64_MAX / 1000 * 1000);
}

TEST(TokenExpiry, OrdinaryExp) {
  identity who;
  who.exp = now + 60;
  EXPECT_EQ(expiry_ms(who), (now + 60) * 1000);
  EXPECT_FALSE(token_expired(who, now * 1000));
  EXPECT_FALSE(token_expired(who, (now + 60) * 1000 - 1));
  EXPECT_TRUE(token_expired(who, (now + 60) * 1000)); // expired at exp itself, like verify_token
  EXPECT_EQ(ms_until_expiry(who, now * 1000, 86400000), 60000);
  EXPECT_EQ(ms_until_expiry(who, now * 1000, 1000), 1000);
  EXPECT_EQ(ms_until_expiry(who, (now + 61) * 1000, 86400000), 0);
}

TEST(VerifyToken, ReasonsForTheLog) {
  auto reason_of = [](const std::string& token, const jwt_config& cfg) {
    auth_reason reason = auth_reason::none;
    verify_token(token, cfg, now, &reason);
    return std::string(auth_reason_label(reason));
  };
  EXPECT_EQ(reason_of(hs256(claims_with("")), hs_config()), "none");
  EXPECT_EQ(reason_of("", hs_config()), "missing");
  EXPECT_EQ(reason_of("not-a-jwt", hs_config()), "malformed");
  EXPECT_EQ(reason_of(std::string(20000, 'a'), hs_config()), "malformed");
  EXPECT_EQ(reason_of(sign(JWT_ALG_HS256, "another-secret-0123456789", claims_with("")), hs_config()),
            "bad_signature");
  EXPECT_EQ(reason_of(sign(JWT_ALG_HS384, secret, claims_with("")), hs_config()), "wrong_algorithm");
  EXPECT_EQ(reason_of(hs256(claims_with(",\"role\":\"janitor\"")), hs_config()), "bad_claims");
  EXPECT_EQ(reason_of(hs256(claims_with(",\"nbf\":" + std::to_string(now + 60))), hs_config()),
            "not_yet_valid");
  EXPECT_EQ(reason_of(hs256(claims_with(",\"exp\":" + std::to_string(now - 1))), hs_config()),
            "expired");
  jwt_config no_key;
  no_key.hs256_secret.clear();
  EXPECT_EQ(reason_of(hs256(claims_with("")), no_key), "no_key");
}

} // namespace vigil
