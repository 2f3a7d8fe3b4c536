// SIGHUP reload: which settings change live and which need a restart (domain/reload.hpp).

#include "domain/reload.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace vigil {
namespace {

config load_ok(std::vector<std::string> args) {
  args.insert(args.begin(), "vigild");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  env_lookup none = [](const char*) -> std::optional<std::string> { return std::nullopt; };
  auto r = load_config(static_cast<int>(args.size()), argv.data(), none);
  if (auto* err = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << "unexpected error: " << *err;
    return {};
  }
  return std::get<config_result>(r).cfg;
}

const std::vector<std::string> base = {"--auth.jwt-secret=s1"};

config with(std::vector<std::string> more) {
  std::vector<std::string> args = base;
  args.insert(args.end(), more.begin(), more.end());
  return load_ok(args);
}

bool reloadable(const std::string& key) {
  const auto& keys = reloadable_keys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

/// A value other than the default for every option that needs a restart.
const std::map<std::string, std::string> other_value = {
  {"server.host", "127.0.0.1"},         {"server.port", "4000"},
  {"server.transformer", "json"},       {"storage.path", "/tmp/x.db"},
  {"storage.synchronous", "full"},      {"storage.ring-size", "32"},
  {"retention.days", "7"},              {"log.format", "json"},
  {"auth.anonymous-timeout", "5s"},     {"auth.expiry-grace", "1s"},
  {"limits.frame-size", "2KiB"},        {"limits.http-body", "2KiB"},
  {"limits.requests-per-frame", "3"},   {"limits.subscriptions-per-connection", "3"},
  {"limits.rate", "3"},                 {"limits.rate-burst", "3"},
  {"limits.outbound-budget", "128KiB"}, {"limits.max-connections", "3"},
  {"keepalive.ping-interval", "3s"},    {"keepalive.pong-wait", "3s"},
  {"escalation.tiers", "nurse:1m,doctor"}, {"metrics.interval", "3s"},
  {"http.static-dir", ""},              {"http.write-timeout", "3s"},
  {"http.body-timeout", "3s"},          {"admin.port", "0"},
  {"admin.token-file", "/tmp/other.token"}, {"scheduler.threads", "3"},
  {"scheduler.policy", "stealing"},     {"shutdown.drain-timeout", "3s"},
  {"cluster.replicas", "1"},            {"cluster.stream", "OTHER"},
  {"storage.resolved-window", "5"},     {"audit.retention-days", "7"},
  {"escalation.failsafe", "off"},       {"escalation.receipt-timeout", "5s"},
  {"escalation.failsafe-urgencies", "1,2"}, {"retention.resolved-alert-days", "0"},
};

TEST(Reload, EveryOptionIsReloadableOrNamedAsNeedingARestart) {
  // Derived defaults pinned (the admin token file follows storage.path otherwise).
  const std::vector<std::string> pinned = {"--http.static-dir=/tmp", "--admin.token-file=/tmp/a.token"};
  const config running = with(pinned);
  for (const std::string& key : option_keys()) {
    if (reloadable(key)) continue;
    if (key.rfind("tls.", 0) == 0) continue; // they go together: TlsPathsAndPortNeedARestart
    // They go together too: ClusterEngineAndUrlsNeedARestart.
    if (key == "storage.engine" || key == "cluster.nats-urls") continue;
    auto v = other_value.find(key);
    ASSERT_NE(v, other_value.end()) << key << " is neither reloadable nor in this test's table";
    std::vector<std::string> args = pinned;
    args.push_back("--" + key + "=" + v->second);
    const config next = with(args);
    auto d = diff_for_reload(running, next);
    EXPECT_EQ(d.restart_needed, std::vector<std::string>{key}) << key;
    EXPECT_TRUE(d.reloaded.empty()) << key;
  }
}

TEST(Reload, ClusterEngineAndUrlsNeedARestart) {
  const std::vector<std::string> pinned = {"--http.static-dir=/tmp", "--admin.token-file=/tmp/a.token"};
  const config running = with(pinned);
  std::vector<std::string> args = pinned;
  args.push_back("--storage.engine=jetstream");
  args.push_back("--cluster.nats-urls=nats://127.0.0.1:4222");
  auto d = diff_for_reload(running, with(args));
  EXPECT_EQ(d.restart_needed, (std::vector<std::string>{"storage.engine", "cluster.nats-urls"}));
  EXPECT_TRUE(d.reloaded.empty());
}

TEST(Reload, TlsPathsAndPortNeedARestart) {
  // The files' contents are read again on every SIGHUP (the transport); their paths and the
  // plain port are fixed at start. Any readable files do here.
  const std::string dir = ::testing::TempDir();
  for (const char* name : {"a.pem", "a.key", "b.pem", "b.key"})
    std::ofstream(dir + name) << "x";
  const config running = with({"--tls.cert-file=" + dir + "a.pem", "--tls.key-file=" + dir + "a.key"});
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
    {{"--tls.cert-file=" + dir + "b.pem", "--tls.key-file=" + dir + "a.key"}, {"tls.cert-file"}},
    {{"--tls.cert-file=" + dir + "a.pem", "--tls.key-file=" + dir + "b.key"}, {"tls.key-file"}},
    {{"--tls.cert-file=" + dir + "a.pem", "--tls.key-file=" + dir + "a.key", "--tls.plain-port=3002"},
     {"tls.plain-port"}},
  };
  for (const auto& [args, restart] : cases) {
    auto d = diff_for_reload(running, with(args));
    EXPECT_EQ(d.restart_needed, restart);
    EXPECT_TRUE(d.reloaded.empty());
  }
  EXPECT_TRUE(diff_for_reload(running, running).restart_needed.empty());
}

TEST(Reload, NothingChangedIsAnEmptyDiff) {
  auto d = diff_for_reload(with({}), with({}));
  EXPECT_TRUE(d.reloaded.empty());
  EXPECT_TRUE(d.restart_needed.empty());
}

TEST(Reload, SameValueInAnotherSpellingIsNoChange) {
  auto d = diff_for_reload(with({"--limits.frame-size=64KiB"}), with({"--limits.frame-size=65536"}));
  EXPECT_TRUE(d.restart_needed.empty());
}

TEST(Reload, ReloadableSettingsAreNamedAndApplied) {
  const config running = with({"--http.cors-origins=https://a.example"});
  const config next = load_ok({"--auth.jwt-secret=s2", "--auth.jwt-previous-secret=s1",
                               "--log.level=debug", "--http.cors-origins=https://b.example",
                               "--limits.rate=5"});
  auto d = diff_for_reload(running, next);
  EXPECT_EQ(d.reloaded, (std::vector<std::string>{"log.level", "auth.jwt-secret",
                                                  "auth.jwt-previous-secret", "http.cors-origins"}));
  EXPECT_EQ(d.restart_needed, std::vector<std::string>{"limits.rate"});

  config after = apply_reloadable(running, next);
  EXPECT_EQ(after.log_level, "debug");
  EXPECT_EQ(after.jwt.hs256_secret, "s2");
  EXPECT_EQ(after.jwt.previous_hs256_secret, "s1");
  EXPECT_EQ(after.cors_origins, std::vector<std::string>{"https://b.example"});
  EXPECT_EQ(after.rate, running.rate); // needs a restart: unchanged
  // Applied, the same configuration is no longer a change.
  EXPECT_TRUE(diff_for_reload(after, next).reloaded.empty());
}

TEST(Reload, RemovingThePreviousSecretIsAChange) {
  const config running = load_ok({"--auth.jwt-secret=s2", "--auth.jwt-previous-secret=s1"});
  const config next = load_ok({"--auth.jwt-secret=s2"});
  EXPECT_EQ(diff_for_reload(running, next).reloaded,
            std::vector<std::string>{"auth.jwt-previous-secret"});
  EXPECT_TRUE(apply_reloadable(running, next).jwt.previous_hs256_secret.empty());
}

TEST(Reload, FallingBackToTheDevSecretOnAPublicAddressIsRefused) {
  const config running = with({}); // 0.0.0.0 with a secret
  const config next = load_ok({"--host=127.0.0.1"});
  ASSERT_TRUE(next.default_secret);
  auto why = refuse_reload(running, next);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, "the new configuration has no JWT secret (the built-in development secret "
                  "would be accepted) while vigild listens on 0.0.0.0; set auth.jwt-secret-file "
                  "(or auth.jwt-secret) and send SIGHUP again");
  // On loopback the dev secret is what start-up allows too.
  EXPECT_FALSE(refuse_reload(load_ok({"--host=127.0.0.1", "--auth.jwt-secret=s"}), next));
  EXPECT_FALSE(refuse_reload(running, with({"--log.level=debug"})));
}

TEST(Reload, SecretNeverAppearsInTheDiff) {
  auto d = diff_for_reload(with({}), load_ok({"--auth.jwt-secret=top-secret-value"}));
  for (const auto& k : d.reloaded) EXPECT_EQ(k.find("top-secret"), std::string::npos);
}

} // namespace
} // namespace vigil
