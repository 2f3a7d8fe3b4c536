// URL decoding of request paths and static file names (domain/url.hpp).

#include "domain/url.hpp"

#include <gtest/gtest.h>

#include <string>

namespace vigil {
namespace {

TEST(url_test, DecodesPercentEscapesOfEitherCase) {
  EXPECT_EQ(url_decode("healthcare.a%2Chealthcare.b"), "healthcare.a,healthcare.b");
  EXPECT_EQ(url_decode("%7b%22x%22%3A1%7D"), "{\"x\":1}");
  EXPECT_EQ(url_decode("%E2%9C%93"), "\xE2\x9C\x93");
}

TEST(url_test, LeavesPlainTextAndPlusAlone) {
  EXPECT_EQ(url_decode(""), "");
  EXPECT_EQ(url_decode("/api/trpc/healthcare.listAlerts"), "/api/trpc/healthcare.listAlerts");
  EXPECT_EQ(url_decode("a+b"), "a+b") << "tRPC encodes with encodeURIComponent: + is a plus";
}

TEST(url_test, KeepsMalformedEscapesAsTheyAre) {
  EXPECT_EQ(url_decode("100%"), "100%");
  EXPECT_EQ(url_decode("%4"), "%4");
  EXPECT_EQ(url_decode("%zz1"), "%zz1");
  EXPECT_EQ(url_decode("%%41"), "%A");
}

TEST(url_test, DecodesNulSoCallersCanRejectIt) {
  auto s = url_decode("/a%00b");
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[2], '\0');
}

} // namespace
} // namespace vigil
