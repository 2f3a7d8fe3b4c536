// Unit tests of the audit trail's pure parts (domain/sha256.hpp, domain/audit.hpp): SHA-256 test
// vectors, the canonical encoding and the chain checker.

#include "domain/audit.hpp"
#include "domain/sha256.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vigil {
namespace {

TEST(Sha256, FipsTestVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

audit_record sample(uint64_t seq) {
  audit_record r;
  r.seq = seq;
  r.ts = 1764633600000 + static_cast<int64_t>(seq);
  r.user_id = "u-nurse-7";
  r.role = "nurse";
  r.hospital_id = "icu-west";
  r.alert_id = "0b6f8f7e-1111-4222-8333-444455556666";
  r.action = "acknowledgeAlert";
  r.outcome = audit_ok;
  r.conn_id = 42;
  r.remote = "127.0.0.1:5555";
  return r;
}

std::vector<audit_record> chain(size_t n, const std::string& anchor = audit_genesis_hash,
                                uint64_t first = 1) {
  std::vector<audit_record> out;
  std::string prev = anchor;
  for (size_t i = 0; i < n; ++i) {
    auto r = sample(first + i);
    audit_seal(r, prev);
    prev = r.hash;
    out.push_back(r);
  }
  return out;
}

TEST(AuditCanonical, IsFixedAndLengthPrefixed) {
  auto r = sample(3);
  r.prev_hash = audit_genesis_hash;
  EXPECT_EQ(audit_canonical(r),
            "vigil-audit-v1;1:3;13:1764633600003;9:u-nurse-7;5:nurse;8:icu-west;"
            "36:0b6f8f7e-1111-4222-8333-444455556666;16:acknowledgeAlert;2:ok;2:42;"
            "14:127.0.0.1:5555;64:" + audit_genesis_hash + ";");
  // The digest of that exact text (a regression pin: changing the encoding breaks old chains).
  EXPECT_EQ(audit_hash(r), sha256_hex(audit_canonical(r)));
}

TEST(AuditCanonical, FieldBoundariesCannotBeForged) {
  auto a = sample(1);
  auto b = sample(1);
  a.user_id = "ab";
  a.role = "c";
  b.user_id = "a";
  b.role = "bc";
  EXPECT_NE(audit_canonical(a), audit_canonical(b));
}

TEST(AuditCanonical, EveryFieldButTheHashIsCovered) {
  auto base = sample(1);
  audit_seal(base, audit_genesis_hash);
  std::vector<void (*)(audit_record&)> changes = {
    [](audit_record& r) { r.seq++; },          [](audit_record& r) { r.ts++; },
    [](audit_record& r) { r.user_id += "x"; }, [](audit_record& r) { r.role = "admin"; },
    [](audit_record& r) { r.hospital_id += "x"; }, [](audit_record& r) { r.alert_id.clear(); },
    [](audit_record& r) { r.action = "resolveAlert"; },
    [](audit_record& r) { r.outcome = "FORBIDDEN"; }, [](audit_record& r) { r.conn_id++; },
    [](audit_record& r) { r.remote.clear(); },  [](audit_record& r) { r.prev_hash[0] = '1'; },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    auto r = base;
    changes[i](r);
    EXPECT_NE(audit_hash(r), base.hash) << "change " << i;
  }
}

TEST(AuditChain, AnIntactChainVerifies) {
  auto c = chain(5);
  audit_chain_checker checker(0, audit_genesis_hash);
  for (const auto& r : c) EXPECT_FALSE(checker.check(r));
  EXPECT_FALSE(checker.finish(5));
  EXPECT_EQ(checker.checked(), 5u);
  EXPECT_EQ(checker.last_hash(), c.back().hash);
}

TEST(AuditChain, AChangedRecordIsNamed) {
  auto c = chain(5);
  c[2].outcome = "FORBIDDEN";
  audit_chain_checker checker(0, audit_genesis_hash);
  std::optional<audit_problem> p;
  for (const auto& r : c)
    if ((p = checker.check(r))) break;
  ASSERT_TRUE(p);
  EXPECT_EQ(p->seq, 3u);
  EXPECT_NE(p->what.find("hash mismatch"), std::string::npos) << p->what;
}

TEST(AuditChain, AResealedRecordBreaksTheNextLink) {
  auto c = chain(5);
  c[2].outcome = "FORBIDDEN";
  audit_seal(c[2], c[1].hash);  // the forger recomputes the changed record's own hash
  audit_chain_checker checker(0, audit_genesis_hash);
  std::optional<audit_problem> p;
  for (const auto& r : c)
    if ((p = checker.check(r))) break;
  ASSERT_TRUE(p);
  EXPECT_EQ(p->seq, 4u);
  EXPECT_NE(p->what.find("prev_hash"), std::string::npos) << p->what;
}

TEST(AuditChain, RemovedRecordsAreAGap) {
  auto c = chain(6);
  c.erase(c.begin() + 2, c.begin() + 4);  // seqs 3 and 4
  audit_chain_checker checker(0, audit_genesis_hash);
  std::optional<audit_problem> p;
  for (const auto& r : c)
    if ((p = checker.check(r))) break;
  ASSERT_TRUE(p);
  EXPECT_EQ(p->seq, 5u);
  EXPECT_NE(p->what.find("records 3..4 missing"), std::string::npos) << p->what;
}

TEST(AuditChain, RemovedNewestRecordsAreAGapAtTheEnd) {
  auto c = chain(4);
  audit_chain_checker checker(0, audit_genesis_hash);
  for (size_t i = 0; i < 3; ++i) EXPECT_FALSE(checker.check(c[i]));
  auto p = checker.finish(4);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->seq, 4u);
  EXPECT_NE(p->what.find("record 4 missing at the end"), std::string::npos) << p->what;
}

TEST(AuditChain, StartsFromAPruneAnchor) {
  auto c = chain(6);
  audit_chain_checker checker(3, c[2].hash);
  for (size_t i = 3; i < 6; ++i) EXPECT_FALSE(checker.check(c[i]));
  EXPECT_FALSE(checker.finish(6));
  audit_chain_checker wrong_anchor(3, c[1].hash);
  auto p = wrong_anchor.check(c[3]);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->seq, 4u);
}

TEST(AuditJson, HasNoFreeTextFieldsAndNullsForEmptyTexts) {
  auto r = sample(1);
  r.user_id.clear();
  audit_seal(r, audit_genesis_hash);
  auto v = to_json(r);
  EXPECT_TRUE(v.find("userId")->is_null());
  EXPECT_EQ(v.find("outcome")->as_string(), "ok");
  EXPECT_EQ(v.find("seq")->as_int(), 1);
  EXPECT_EQ(v.find("time")->as_string(), "2025-12-02T00:00:00.001Z");
}

TEST(AuditJson, ReadsBackWhatItWrites) {
  auto r = sample(7);
  r.alert_id.clear(); // written as null
  audit_seal(r, std::string(64, 'a'));
  auto back = audit_from_json(to_json(r));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(audit_canonical(*back), audit_canonical(r));
  EXPECT_EQ(back->hash, r.hash);
  EXPECT_EQ(audit_hash(*back), r.hash) << "the chain verifies on what was read back";
}

TEST(AuditJson, RefusesARecordWithAMissingOrMistypedField) {
  auto r = sample(2);
  audit_seal(r, audit_genesis_hash);
  for (auto key : {"seq", "time", "action", "outcome", "connectionId", "prevHash", "hash"}) {
    auto v = to_json(r);
    v.erase(key);
    EXPECT_FALSE(audit_from_json(v).has_value()) << key;
  }
  auto v = to_json(r);
  v.set("time", "yesterday");
  EXPECT_FALSE(audit_from_json(v).has_value());
  v = to_json(r);
  v.set("seq", -1);
  EXPECT_FALSE(audit_from_json(v).has_value());
  EXPECT_FALSE(audit_from_json(json::value{"text"}).has_value());
}

} // namespace
} // namespace vigil
