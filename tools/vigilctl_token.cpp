// `vigilctl token`: mints an HS256 JWT with vigild's claims (docs/api.md "Authentication").
// The secret comes from --secret, else from --config (the file plus AUTH_JWT_SECRET, exactly as
// vigild would resolve it), else from AUTH_JWT_SECRET, else the built-in development secret.

#include <cstdio>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "domain/auth.hpp"
#include "domain/config.hpp"
#include "domain/procedures.hpp"
#include "domain/time.hpp"
#include "tools/vigilctl_commands.hpp"

namespace vigil::ctl {

namespace {

constexpr const char* token_usage =
  "Usage: vigilctl token --sub ID --role ROLE --hospital ID [--hospital ID]... [options]\n"
  "\n"
  "Mints an HS256 JWT that vigild accepts and prints it on stdout.\n"
  "\n"
  "Claims:\n"
  "  --sub ID         user id (the `sub` claim), required\n"
  "  --role ROLE      admin, head_doctor, doctor, nurse, operator or viewer, required\n"
  "  --hospital ID    a hospital the user may access; repeat for several, at least one\n"
  "  --name NAME      display name (optional)\n"
  "  --ttl DURATION   lifetime (ms, s, m or h: 90s, 15m, 8h, 168h), 1s..8760h, default 1h\n"
  "\n"
  "Secret (the first that is given wins):\n"
  "  --secret S       the HS256 secret (visible in `ps`; prefer AUTH_JWT_SECRET)\n"
  "  --config FILE    the secret vigild would use with this config file (the file, then\n"
  "                   the AUTH_JWT_SECRET environment variable)\n"
  "  AUTH_JWT_SECRET  environment variable\n"
  "  (none)           vigild's built-in development secret, with a warning\n"
  "\n"
  "Example:\n"
  "  vigilctl token --sub u-nurse-7 --name \"Ann Lee\" --role nurse --hospital h1 --ttl 8h\n";

constexpr int64_t min_ttl_ms = 1000;
constexpr int64_t max_ttl_ms = 8760LL * 3600 * 1000; // one year

struct token_options {
  std::string sub;
  std::optional<std::string> name;
  std::string role_text;
  std::vector<std::string> hospitals;
  std::string ttl = "1h";
  std::optional<std::string> secret;
  std::optional<std::string> config_file;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "vigilctl token: %s\n(run `vigilctl token --help` for usage)\n",
               message.c_str());
  return exit_usage;
}

int failure(const std::string& message) {
  std::fprintf(stderr, "vigilctl token: %s\n", message.c_str());
  return exit_failure;
}

/// Resolves the secret; on failure prints the reason and returns the exit code instead.
std::variant<std::string, int> resolve_secret(const token_options& o) {
  if (o.secret) {
    if (o.secret->empty()) return usage_error("--secret must not be empty");
    return *o.secret;
  }
  if (o.config_file) {
    const char* args[] = {"vigilctl", "--config", o.config_file->c_str()};
    auto loaded = load_config(3, args, process_env());
    if (auto* err = std::get_if<std::string>(&loaded)) return failure(*err);
    const config& cfg = std::get<config_result>(loaded).cfg;
    if (!cfg.jwt.public_key_pem.empty())
      return failure("the configuration uses " + cfg.jwt.algorithm +
                     "; vigilctl token can only mint HS256 tokens");
    if (cfg.default_secret)
      std::fprintf(stderr, "vigilctl token: warning: using the built-in development secret\n");
    return cfg.jwt.hs256_secret;
  }
  if (auto env = process_env()("AUTH_JWT_SECRET"); env && !env->empty()) return *env;
  std::fprintf(stderr, "vigilctl token: warning: using the built-in development secret "
                       "(set AUTH_JWT_SECRET or --secret)\n");
  return jwt_config{}.hs256_secret;
}

} // namespace

int run_token(int argc, char** argv) {
  token_options o;
  arg_cursor args(argc, argv);
  while (!args.done()) {
    std::string v;
    if (args.help()) {
      std::fputs(token_usage, stdout);
      return exit_ok;
    }
    if (args.value("sub", v)) o.sub = v;
    else if (args.value("role", v)) o.role_text = v;
    else if (args.value("hospital", v)) o.hospitals.push_back(v);
    else if (args.value("name", v)) o.name = v;
    else if (args.value("ttl", v)) o.ttl = v;
    else if (args.value("secret", v)) o.secret = v;
    else if (args.value("config", v)) o.config_file = v;
    else if (args.failed()) return usage_error(args.error());
    else return usage_error("unknown option \"" + std::string(args.current()) + "\"");
  }

  if (o.sub.empty()) return usage_error("--sub is required");
  if (o.role_text.empty()) return usage_error("--role is required");
  auto r = parse_role(o.role_text);
  if (!r)
    return usage_error("unknown role \"" + o.role_text +
                       "\" (admin, head_doctor, doctor, nurse, operator or viewer)");
  if (o.hospitals.empty()) return usage_error("at least one --hospital is required");
  for (const std::string& h : o.hospitals)
    if (!valid_hospital_id(h))
      return usage_error("invalid hospital id \"" + h + "\" (1..64 of A-Z a-z 0-9 _ . : -)");
  auto ttl_ms = parse_duration_ms(o.ttl);
  if (!ttl_ms) return usage_error("invalid --ttl \"" + o.ttl + "\" (e.g. 90s, 15m, 1h)");
  if (*ttl_ms < min_ttl_ms || *ttl_ms > max_ttl_ms)
    return usage_error("--ttl must be between 1s and 8760h");

  auto secret = resolve_secret(o);
  if (auto* code = std::get_if<int>(&secret)) return *code;

  const int64_t now_sec = now_ms() / 1000;
  identity who;
  who.sub = o.sub;
  who.name = o.name;
  who.user_role = *r;
  who.hospitals = o.hospitals;
  who.exp = now_sec + (*ttl_ms + 999) / 1000; // never shorter than asked
  const std::string token = mint_hs256(std::get<std::string>(secret), who, now_sec);
  if (token.empty()) return failure("could not sign the token");
  std::printf("%s\n", token.c_str());
  return exit_ok;
}

} // namespace vigil::ctl
