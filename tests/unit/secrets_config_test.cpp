// The JWT secrets in the configuration: auth.jwt-secret-file, the previous secret (rotation),
// and the rule that the built-in development secret never listens beyond loopback.

#include "domain/config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace vigil {
namespace {

std::variant<config_result, std::string> load(std::vector<std::string> args) {
  args.insert(args.begin(), "vigild");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  env_lookup none = [](const char*) -> std::optional<std::string> { return std::nullopt; };
  return load_config(static_cast<int>(args.size()), argv.data(), none);
}

config load_ok(std::vector<std::string> args) {
  auto r = load(std::move(args));
  if (auto* err = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << "unexpected error: " << *err;
    return {};
  }
  return std::get<config_result>(r).cfg;
}

std::string load_error(std::vector<std::string> args) {
  auto r = load(std::move(args));
  if (auto* err = std::get_if<std::string>(&r)) return *err;
  ADD_FAILURE() << "configuration was accepted";
  return {};
}

/// Writes a file (mode `mode`) in a per-test temporary directory and returns its path.
std::string write_secret(const std::string& name, const std::string& text, mode_t mode = 0600) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string path = ::testing::TempDir() + "vigil_secrets_test_" + std::to_string(::getpid()) +
                     "_" + info->name() + "_" + name;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ::chmod(path.c_str(), mode);
  return path;
}

// -- auth.jwt-secret-file ------------------------------------------------------------------------

TEST(SecretFile, IsReadAndTrailingNewlinesAreDropped) {
  config c = load_ok({"--auth.jwt-secret-file=" + write_secret("s", "s3cret value\r\n\n")});
  EXPECT_EQ(c.jwt.hs256_secret, "s3cret value");
  EXPECT_FALSE(c.default_secret);
  EXPECT_TRUE(c.warnings.empty());
  // Only trailing newlines: leading and inner characters are the secret's.
  EXPECT_EQ(load_ok({"--auth.jwt-secret-file=" + write_secret("t", " a\nb")}).jwt.hs256_secret,
            " a\nb");
}

TEST(SecretFile, EmptyMissingOrNotAFileIsAnError) {
  const std::string empty = write_secret("empty", "\n");
  EXPECT_EQ(load_error({"--auth.jwt-secret-file=" + empty}),
            "auth.jwt-secret-file \"" + empty + "\" is empty");
  EXPECT_EQ(load_error({"--auth.jwt-secret-file=/nonexistent/secret"}),
            "cannot read auth.jwt-secret-file \"/nonexistent/secret\"");
  EXPECT_EQ(load_error({"--auth.jwt-secret-file=/tmp"}),
            "auth.jwt-secret-file \"/tmp\" is not a regular file");
  const std::string big = write_secret("big", std::string(64 * 1024 + 1, 'x'));
  EXPECT_EQ(load_error({"--auth.jwt-secret-file=" + big}),
            "auth.jwt-secret-file \"" + big + "\" is larger than 64 KiB; it must hold only the secret");
}

TEST(SecretFile, WorldReadableFileIsAcceptedWithAWarningWithoutTheSecret) {
  const std::string path = write_secret("open", "visible-to-all\n", 0644);
  config c = load_ok({"--auth.jwt-secret-file=" + path});
  EXPECT_EQ(c.jwt.hs256_secret, "visible-to-all");
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_EQ(c.warnings[0], "auth.jwt-secret-file \"" + path +
                             "\" is readable by every user; chmod 600 it (owner: vigild's user)");
  EXPECT_EQ(c.warnings[0].find("visible-to-all"), std::string::npos);
}

TEST(SecretFile, ExcludesTheSecretItself) {
  const std::string path = write_secret("s", "from-file");
  EXPECT_EQ(load_error({"--auth.jwt-secret=x", "--auth.jwt-secret-file=" + path}),
            "auth.jwt-secret and auth.jwt-secret-file are both set; keep one (the file keeps the "
            "secret out of `ps` and the environment)");
  // An empty file option means none.
  EXPECT_EQ(load_ok({"--auth.jwt-secret=x", "--auth.jwt-secret-file="}).jwt.hs256_secret, "x");
}

TEST(SecretFile, ErrorsNeverContainTheSecret) {
  const std::string prev = write_secret("p", "previous-secret-text");
  std::string err = load_error({"--auth.jwt-previous-secret-file=" + prev});
  EXPECT_EQ(err.find("previous-secret-text"), std::string::npos);
}

// -- the previous secret -------------------------------------------------------------------------

TEST(PreviousSecret, FromValueOrFile) {
  EXPECT_EQ(load_ok({"--auth.jwt-secret=new", "--auth.jwt-previous-secret=old"})
              .jwt.previous_hs256_secret,
            "old");
  const std::string path = write_secret("p", "old-from-file\n");
  config c = load_ok({"--auth.jwt-secret-file=" + write_secret("s", "new\n"),
                      "--auth.jwt-previous-secret-file=" + path});
  EXPECT_EQ(c.jwt.hs256_secret, "new");
  EXPECT_EQ(c.jwt.previous_hs256_secret, "old-from-file");
  EXPECT_TRUE(load_ok({"--auth.jwt-secret=new"}).jwt.previous_hs256_secret.empty());
}

TEST(PreviousSecret, Errors) {
  EXPECT_EQ(load_error({"--auth.jwt-previous-secret=old"}),
            "auth.jwt-previous-secret is set but no current secret (auth.jwt-secret-file or "
            "auth.jwt-secret) is");
  const std::string path = write_secret("p", "old");
  EXPECT_EQ(load_error({"--auth.jwt-secret=n", "--auth.jwt-previous-secret=old",
                        "--auth.jwt-previous-secret-file=" + path}),
            "auth.jwt-previous-secret and auth.jwt-previous-secret-file are both set; keep one");
  const std::string empty = write_secret("e", "");
  EXPECT_EQ(load_error({"--auth.jwt-secret=n", "--auth.jwt-previous-secret-file=" + empty}),
            "auth.jwt-previous-secret-file \"" + empty + "\" is empty");
  EXPECT_EQ(load_error({"--auth.algorithm=RS256",
                        "--auth.public-key-file=" + std::string(VIGIL_TESTDATA_DIR) +
                          "/keys/rsa_public.pem",
                        "--auth.jwt-previous-secret=old"}),
            "auth.jwt-previous-secret applies to auth.algorithm HS256 only");
}

// -- the development secret and the listening address -------------------------------------------

TEST(DevSecret, UnsetHostBecomesLoopback) {
  config c = load_ok({});
  EXPECT_TRUE(c.default_secret);
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_TRUE(c.loopback_for_dev_secret);
}

TEST(DevSecret, ConfiguredSecretKeepsEveryInterface) {
  config c = load_ok({"--auth.jwt-secret=real"});
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_FALSE(c.loopback_for_dev_secret);
  EXPECT_EQ(load_ok({"--auth.jwt-secret-file=" + write_secret("s", "real")}).host, "0.0.0.0");
}

TEST(DevSecret, ExplicitNonLoopbackHostIsRefusedInOneLine) {
  for (const char* host : {"0.0.0.0", "::", "10.1.2.3", "vigil.example"}) {
    std::string err = load_error({std::string("--host=") + host});
    EXPECT_EQ(err, std::string("refusing to listen on ") + host +
                     " with the built-in development JWT secret (anyone can sign tokens with "
                     "it): set auth.jwt-secret-file (or AUTH_JWT_SECRET), or listen on 127.0.0.1");
    EXPECT_EQ(err.find('\n'), std::string::npos);
  }
  // Naming the built-in secret explicitly is the same secret.
  EXPECT_FALSE(std::holds_alternative<config_result>(
    load({"--host=0.0.0.0", "--auth.jwt-secret=dev-secret-change-me"})));
}

TEST(DevSecret, ExplicitLoopbackHostIsAccepted) {
  for (const char* host : {"127.0.0.1", "127.0.0.2", "::1", "localhost"}) {
    config c = load_ok({std::string("--host=") + host});
    EXPECT_EQ(c.host, host);
    EXPECT_FALSE(c.loopback_for_dev_secret);
  }
}

TEST(IsLoopbackHost, Addresses) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.255.0.9"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host("128.0.0.1"));
  EXPECT_FALSE(is_loopback_host("192.168.1.1"));
  EXPECT_FALSE(is_loopback_host("localhost.example"));
  EXPECT_FALSE(is_loopback_host(""));
}

} // namespace
} // namespace vigil
