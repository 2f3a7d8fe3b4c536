// The console's wire format (domain/console_protocol.hpp): request lines and reply lengths.

#include <gtest/gtest.h>

#include "domain/console_protocol.hpp"

namespace vigil::console_protocol {
namespace {

TEST(ConsoleProtocol, RequestsRoundTripWithQuotesAndBlanks) {
  std::vector<std::string> words{"hospital", "icu \"west\"\n", "", "\\"};
  auto line = encode_request(words);
  EXPECT_EQ(line.find('\n'), std::string::npos) << "one line";
  std::string error;
  EXPECT_EQ(decode_request(line, &error), std::optional<std::vector<std::string>>{words});
}

TEST(ConsoleProtocol, BadRequestsAreRefused) {
  std::string error;
  for (const char* line : {"", "stats", "[]", "{}", "[1]", "[\"kick\", 3]", "[\"stats\"", "null"}) {
    EXPECT_FALSE(decode_request(line, &error)) << line;
    EXPECT_EQ(error.rfind("bad request: ", 0), 0u) << error;
  }
}

TEST(ConsoleProtocol, ReplyLengths) {
  EXPECT_EQ(frame_reply("{\"ok\":true}"), "11\n{\"ok\":true}");
  EXPECT_EQ(parse_reply_length("11"), std::optional<size_t>{11});
  EXPECT_EQ(parse_reply_length("0"), std::optional<size_t>{0});
  EXPECT_EQ(parse_reply_length(std::to_string(reply_max)), std::optional<size_t>{reply_max});
  for (const char* bad : {"", "-1", "1x", " 1", "99999999999", "4294967295"})
    EXPECT_FALSE(parse_reply_length(bad)) << bad;
}

TEST(ConsoleProtocol, CommandTableMarksWhatChangesTheServer) {
  for (const char* name : {"kick", "reconnect-all", "log-level"})
    EXPECT_TRUE(is_mutating(name)) << name;
  for (const char* name :
       {"stats", "hospitals", "hospital", "connections", "connection", "actors", "escalations",
        "help", "unknown"})
    EXPECT_FALSE(is_mutating(name)) << name;
}

} // namespace
} // namespace vigil::console_protocol
