// Event ids `<epoch>-<seq>` (domain/event_id.hpp).

#include "domain/event_id.hpp"

#include <gtest/gtest.h>

namespace vigil {
namespace {

TEST(EventId, ParsesEpochAndSeq) {
  auto id = parse_event_id("k3x9q2ab-1043");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->epoch, "k3x9q2ab");
  EXPECT_EQ(id->seq, 1043u);
  auto zero = parse_event_id("abcdefgh-0");
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->seq, 0u);
  auto big = parse_event_id("00000000-9999999999999999999");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->seq, 9999999999999999999ull);
}

const char* const malformed_ids[] = {
    "", "k3x9q2ab", "k3x9q2ab-", "-1", "k3x9q2a-1", "k3x9q2abc-1", "K3X9Q2AB-1", "k3x9q2ab-+1",
    "k3x9q2ab--1", "k3x9q2ab-1a", "k3x9q2ab-1 ", " k3x9q2ab-1", "k3x9_2ab-1",
    "k3x9q2ab-12345678901234567890", "k3x9q2ab_1", "k3x9q2ab-1-2", "k3x9q2ab-0x1"};

TEST(EventId, RejectsMalformedIds) {
  for (const char* bad : malformed_ids) EXPECT_FALSE(parse_event_id(bad)) << '"' << bad << '"';
}

TEST(EventId, FormatRoundTrips) {
  EXPECT_EQ(format_event_id("k3x9q2ab", 7), "k3x9q2ab-7");
  EXPECT_EQ(format_event_id("k3x9q2ab", 0), "k3x9q2ab-0");
  auto back = parse_event_id(format_event_id("zz99zz99", 123456789012345ull));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->epoch, "zz99zz99");
  EXPECT_EQ(back->seq, 123456789012345ull);
  auto max = parse_event_id(format_event_id("zz99zz99", UINT64_MAX));
  EXPECT_FALSE(max) << "20 digits are refused: the parser never overflows";
}

TEST(EventId, SeqOfTheGivenEpochOnly) {
  EXPECT_EQ(event_id_seq("k3x9q2ab-1043", "k3x9q2ab"), 1043u);
  EXPECT_EQ(event_id_seq("k3x9q2ab-0", "k3x9q2ab"), 0u);
  EXPECT_FALSE(event_id_seq("k3x9q2ac-1043", "k3x9q2ab")) << "another epoch";
  EXPECT_FALSE(event_id_seq("k3x9q2ab-1043", "k3x9q2a")) << "a shorter epoch is not a prefix match";
  EXPECT_FALSE(event_id_seq("k3x9q2ab-1043", "")) << "no epoch";
  for (const char* bad : malformed_ids)
    EXPECT_FALSE(event_id_seq(bad, "k3x9q2ab")) << '"' << bad << '"';
}

TEST(EventId, ValidEpochs) {
  EXPECT_TRUE(is_valid_epoch("k3x9q2ab"));
  EXPECT_TRUE(is_valid_epoch("00000000"));
  EXPECT_FALSE(is_valid_epoch(""));
  EXPECT_FALSE(is_valid_epoch("k3x9q2a"));
  EXPECT_FALSE(is_valid_epoch("k3x9q2abc"));
  EXPECT_FALSE(is_valid_epoch("K3x9q2ab"));
  EXPECT_FALSE(is_valid_epoch("k3x9-2ab"));
}

} // namespace
} // namespace vigil
