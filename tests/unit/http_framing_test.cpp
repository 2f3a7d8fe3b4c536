#include "domain/http_framing.hpp"

#include <gtest/gtest.h>

using namespace vigil;

namespace {

std::optional<int> status(bool post, std::vector<std::string> cl,
                          std::optional<std::string> te = std::nullopt) {
  auto e = check_framing(post, cl, te);
  if (!e)
    return std::nullopt;
  return e->status;
}

} // namespace

TEST(HttpFraming, AcceptsPlainContentLength) {
  EXPECT_EQ(status(true, {"0"}), std::nullopt);
  EXPECT_EQ(status(true, {"1048576"}), std::nullopt);
  EXPECT_EQ(status(true, {" 12 "}), std::nullopt);
  EXPECT_EQ(status(true, {"9223372036854775807"}), std::nullopt);
}

TEST(HttpFraming, GetNeedsNoLength) {
  EXPECT_EQ(status(false, {}), std::nullopt);
}

TEST(HttpFraming, PostWithoutLengthIs411) {
  auto e = check_framing(true, {}, std::nullopt);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 411);
  EXPECT_EQ(e->message, "Content-Length required");
}

TEST(HttpFraming, InvalidLengthsAre400) {
  for (const char* v : {"-1", "+1", "abc", "", "1a", "0x10", "18446744073709551617",
                        "9223372036854775808", "99999999999999999999", "1 2"}) {
    EXPECT_EQ(status(true, {v}), 400) << v;
    EXPECT_EQ(status(false, {v}), 400) << v;
  }
}

TEST(HttpFraming, RepeatedLengths) {
  EXPECT_EQ(status(true, {"2", "2"}), std::nullopt);
  EXPECT_EQ(status(true, {"2, 2"}), std::nullopt);
  EXPECT_EQ(status(true, {"2", "3"}), 400);
  EXPECT_EQ(status(true, {"2,3"}), 400);
  EXPECT_EQ(status(true, {"2", ""}), 400);
  auto e = check_framing(true, {"2", "3"}, std::nullopt);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "Conflicting Content-Length values");
}

TEST(HttpFraming, TransferEncoding) {
  EXPECT_EQ(status(true, {}, "chunked"), 411);
  EXPECT_EQ(status(false, {}, "chunked"), 411);
  EXPECT_EQ(status(true, {}, "gzip, chunked"), 411);
  EXPECT_EQ(status(true, {"2"}, "chunked"), 400);
  EXPECT_EQ(status(true, {"2"}, "identity"), 400);
}
