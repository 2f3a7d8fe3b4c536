#include "domain/base64url.hpp"

#include <gtest/gtest.h>

namespace vigil {
namespace {

TEST(base64url, encodes_rfc4648_vectors_without_padding) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8"); // the url-safe digits
}

TEST(base64url, round_trips_every_byte_value) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 37) {
    auto in = all.substr(0, n);
    auto back = base64url_decode(base64url_encode(in));
    ASSERT_TRUE(back.has_value()) << n;
    EXPECT_EQ(*back, in) << n;
  }
}

TEST(base64url, rejects_padding_foreign_characters_and_impossible_lengths) {
  EXPECT_FALSE(base64url_decode("Zg=="));
  EXPECT_FALSE(base64url_decode("Zm9v+"));
  EXPECT_FALSE(base64url_decode("Zm/v"));
  EXPECT_FALSE(base64url_decode("Zm9vY")); // 4n+1 characters cannot come from any input
  EXPECT_TRUE(base64url_decode(""));
}

} // namespace
} // namespace vigil
