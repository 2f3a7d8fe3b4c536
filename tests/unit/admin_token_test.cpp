// The admin token file (domain/admin_token.hpp): created once with mode 0600, read back, and
// refused when others may read it or when it does not hold a token.

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "domain/admin_token.hpp"

namespace vigil {
namespace {

/// A fresh path in a per-test directory (the file itself does not exist yet).
std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string dir = ::testing::TempDir() + "vigil_admin_token_" + std::to_string(::getpid()) + "_"
                    + info->name();
  ::mkdir(dir.c_str(), 0700);
  std::string path = dir + "/" + name;
  ::unlink(path.c_str());
  return path;
}

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  ::chmod(path.c_str(), mode);
}

TEST(AdminToken, CreatedOnceWithMode0600AndReadBack) {
  auto path = temp_path("admin.token");
  std::string error;
  auto first = ensure_admin_token(path, &error);
  ASSERT_TRUE(first) << error;
  EXPECT_EQ(first->size(), 64u);
  EXPECT_EQ(first->find_first_not_of("0123456789abcdef"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The next start keeps it; vigilctl reads the same.
  EXPECT_EQ(ensure_admin_token(path, &error), first);
  EXPECT_EQ(read_admin_token(path, &error), first);
  // Another file gets another token.
  EXPECT_NE(ensure_admin_token(temp_path("other.token"), &error), first);
}

TEST(AdminToken, BlanksAroundTheTokenAreIgnored) {
  auto path = temp_path("t");
  write_file(path, "  0123456789abcdef0123\r\n\n", 0600);
  std::string error;
  EXPECT_EQ(read_admin_token(path, &error), std::optional<std::string>{"0123456789abcdef0123"});
}

TEST(AdminToken, AFileOthersMayReadIsRefused) {
  auto path = temp_path("t");
  write_file(path, std::string(64, 'a') + "\n", 0644);
  std::string error;
  EXPECT_FALSE(ensure_admin_token(path, &error));
  EXPECT_NE(error.find("has mode 0644: other users could use the console"), std::string::npos)
    << error;
  EXPECT_EQ(error.find(std::string(64, 'a')), std::string::npos) << "the token is not in errors";
}

TEST(AdminToken, NotATokenIsRefusedWithoutQuotingIt) {
  std::string error;
  struct bad {
    std::string text;
    const char* message;
  };
  for (const bad& b : std::initializer_list<bad>{
         {"", "is shorter than 16"},
         {"short\n", "is shorter than 16"},
         {"two words but long enough\n", "blank or a non-printable"},
         {std::string(300, 'x'), "is longer than 256"},
         {std::string(5000, 'x'), "is longer than 256"},
       }) {
    auto path = temp_path("t");
    write_file(path, b.text, 0600);
    EXPECT_FALSE(read_admin_token(path, &error)) << b.text;
    EXPECT_NE(error.find(b.message), std::string::npos) << error;
    EXPECT_NE(error.find(path), std::string::npos) << error;
  }
  EXPECT_FALSE(read_admin_token(temp_path("missing"), &error));
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
  EXPECT_TRUE(check_admin_token("0123456789abcde"));   // 15 characters: an error text
  EXPECT_FALSE(check_admin_token("0123456789abcdef")); // 16: a token
}

TEST(AdminToken, MatchesOnlyTheExactToken) {
  EXPECT_TRUE(admin_token_matches("secret-token-0123", "secret-token-0123"));
  EXPECT_FALSE(admin_token_matches("secret-token-0123", "secret-token-0124"));
  EXPECT_FALSE(admin_token_matches("secret-token-0123", "secret-token-012"));
  EXPECT_FALSE(admin_token_matches("secret-token-0123", "secret-token-01234"));
  EXPECT_FALSE(admin_token_matches("secret-token-0123", ""));
  EXPECT_FALSE(admin_token_matches("", ""));
}

} // namespace
} // namespace vigil
