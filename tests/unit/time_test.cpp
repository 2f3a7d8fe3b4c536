// ISO-8601 formatting/parsing and the wall clock.

#include "domain/time.hpp"

#include <gtest/gtest.h>

using vigil::format_iso;
using vigil::now_ms;
using vigil::parse_iso;

namespace {

constexpr int64_t day_ms = 86400000;
constexpr int64_t capture_ms = 1735787045678; // 2025-01-02T03:04:05.678Z

} // namespace

TEST(FormatIso, KnownInstants) {
  EXPECT_EQ(format_iso(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso(capture_ms), "2025-01-02T03:04:05.678Z");
  EXPECT_EQ(format_iso(1767607200000), "2026-01-05T10:00:00.000Z");
  EXPECT_EQ(format_iso(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(format_iso(951868799999), "2000-02-29T23:59:59.999Z");
  EXPECT_EQ(format_iso(4107542400000), "2100-03-01T00:00:00.000Z"); // 2100 is not a leap year
  EXPECT_EQ(format_iso(253402300799999), "9999-12-31T23:59:59.999Z");
}

TEST(FormatIso, BeforeEpoch) {
  EXPECT_EQ(format_iso(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_iso(-day_ms), "1969-12-31T00:00:00.000Z");
  EXPECT_EQ(format_iso(-day_ms - 1), "1969-12-30T23:59:59.999Z");
  EXPECT_EQ(format_iso(-2208988800000), "1900-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso(-62135596800000), "0001-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso(-62167219200000), "0000-01-01T00:00:00.000Z");
}

TEST(FormatIso, ExtendedYearsLikeJavaScript) {
  EXPECT_EQ(format_iso(253402300800000), "+010000-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso(-62167219200001), "-000001-12-31T23:59:59.999Z");
  // Clamped to the JavaScript Date range instead of overflowing.
  EXPECT_EQ(format_iso(8640000000000000), "+275760-09-13T00:00:00.000Z");
  EXPECT_EQ(format_iso(INT64_MAX), "+275760-09-13T00:00:00.000Z");
  EXPECT_EQ(format_iso(INT64_MIN), "-271821-04-20T00:00:00.000Z");
}

TEST(ParseIso, CanonicalForm) {
  EXPECT_EQ(parse_iso("1970-01-01T00:00:00.000Z"), 0);
  EXPECT_EQ(parse_iso("2025-01-02T03:04:05.678Z"), capture_ms);
  EXPECT_EQ(parse_iso("1969-12-31T23:59:59.999Z"), -1);
  EXPECT_EQ(parse_iso("1900-01-01T00:00:00.000Z"), -2208988800000);
  EXPECT_EQ(parse_iso("0000-01-01T00:00:00.000Z"), -62167219200000);
  EXPECT_EQ(parse_iso("9999-12-31T23:59:59.999Z"), 253402300799999);
}

TEST(ParseIso, RoundTripsFormatIso) {
  // Steps of a prime number of milliseconds across ~1600..2400, leap days included.
  for (int64_t ms = -11676096000000; ms < 13569465600000; ms += 7919LL * 3600 * 1000 + 123) {
    const std::string text = format_iso(ms);
    EXPECT_EQ(parse_iso(text), ms) << text;
  }
  for (const int64_t ms : {int64_t{951782400000}, int64_t{-62135596800000}, int64_t{-1}}) {
    EXPECT_EQ(parse_iso(format_iso(ms)), ms);
  }
}

TEST(ParseIso, OptionalSecondsAndFractions) {
  EXPECT_EQ(parse_iso("2025-01-02T03:04Z"), capture_ms - 5678);
  EXPECT_EQ(parse_iso("2025-01-02T03:04:05Z"), capture_ms - 678);
  EXPECT_EQ(parse_iso("2025-01-02T03:04:05.6Z"), capture_ms - 78);
  EXPECT_EQ(parse_iso("2025-01-02T03:04:05.67Z"), capture_ms - 8);
  EXPECT_EQ(parse_iso("2025-01-02T03:04:05.6789Z"), capture_ms + 0);
  EXPECT_EQ(parse_iso("2025-01-02T03:04:05.678999999Z"), capture_ms); // truncated, not rounded
  EXPECT_EQ(parse_iso("2025-01-02T03:04:05.000000000000000000001Z"), capture_ms - 678);
}

TEST(ParseIso, Offsets) {
  EXPECT_EQ(parse_iso("2025-01-02T05:04:05.678+02:00"), capture_ms);
  EXPECT_EQ(parse_iso("2025-01-02T05:04:05.678+0200"), capture_ms);
  EXPECT_EQ(parse_iso("2025-01-01T21:34:05.678-05:30"), capture_ms);
  EXPECT_EQ(parse_iso("2025-01-01T21:34:05.678-0530"), capture_ms);
  EXPECT_EQ(parse_iso("2025-01-02T03:04:05.678+00:00"), capture_ms);
  EXPECT_EQ(parse_iso("2025-01-02T03:04:05.678-00:00"), capture_ms);
  EXPECT_EQ(parse_iso("1970-01-01T00:00+23:59"), -(23 * 60 + 59) * 60000LL);
  EXPECT_EQ(parse_iso("2025-01-02T08:04+05:00"), capture_ms - 5678);
}

TEST(ParseIso, LenientSeparatorsAndCase) {
  EXPECT_EQ(parse_iso("2025-01-02t03:04:05.678z"), capture_ms);
  EXPECT_EQ(parse_iso("2025-01-02 03:04:05.678Z"), capture_ms);
}

TEST(ParseIso, CalendarValidation) {
  EXPECT_TRUE(parse_iso("2024-02-29T00:00:00Z").has_value());
  EXPECT_TRUE(parse_iso("2000-02-29T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso("2025-02-29T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso("1900-02-29T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso("2024-02-30T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso("2025-04-31T00:00:00Z").has_value());
  EXPECT_TRUE(parse_iso("2025-12-31T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso("2025-12-32T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso("2025-00-10T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso("2025-13-10T00:00:00Z").has_value());
  EXPECT_FALSE(parse_iso("2025-01-00T00:00:00Z").has_value());
}

TEST(ParseIso, TimeValidation) {
  EXPECT_TRUE(parse_iso("2025-01-02T23:59:59.999Z").has_value());
  EXPECT_FALSE(parse_iso("2025-01-02T24:00:00Z").has_value());
  EXPECT_FALSE(parse_iso("2025-01-02T12:60:00Z").has_value());
  EXPECT_FALSE(parse_iso("2025-01-02T12:00:60Z").has_value());
  EXPECT_FALSE(parse_iso("2025-01-02T12:00:00+24:00").has_value());
  EXPECT_FALSE(parse_iso("2025-01-02T12:00:00+12:60").has_value());
}

TEST(ParseIso, RejectsMalformedText) {
  for (const char* text : {
           "",
           "garbage",
           "2025-01-02",                     // date only
           "2025-01-02T03:04:05.678",        // no zone
           "2025-01-02T03:04:05.678Z ",      // trailing text
           "2025-01-02T03:04:05.678Zjunk",
           " 2025-01-02T03:04:05.678Z",      // leading space
           "2025-01-02T03:04:05.Z",          // dot without digits
           "2025-01-02T03:04:05,678Z",
           "2025-1-02T03:04:05Z",            // one-digit month
           "2025-01-2T03:04:05Z",
           "2025-01-02T3:04:05Z",
           "2025-01-02T03:4:05Z",
           "2025-01-02T03:04:5Z",
           "2025-01-02T03Z",                 // hour only
           "2025-01-02X03:04:05Z",
           "25-01-02T03:04:05Z",
           "+2025-01-02T03:04:05Z",
           "2025/01/02T03:04:05Z",
           "2025-01-02T03:04:05+1:00",
           "2025-01-02T03:04:05+01:0",
           "2025-01-02T03:04:05+01",
           "2025-01-02T03:04:05+01:00:00",
           "2025-01-02T03:04:05ZZ",
           "2025-01-02T03:04:05.678\0Z",
           "１９７０-01-01T00:00:00Z",
       }) {
    EXPECT_FALSE(parse_iso(text).has_value()) << text;
  }
  EXPECT_FALSE(parse_iso(std::string_view("2025-01-02T03:04:05Z\0", 21)).has_value());
}

TEST(NowMs, IsCurrentWallClock) {
  const int64_t a = now_ms();
  EXPECT_GT(a, 1735689600000); // after 2025-01-01
  EXPECT_LT(a, 4102444800000); // before 2100-01-01
  const int64_t b = now_ms();
  EXPECT_LE(a, b + 1000);
}

TEST(ParseIso, AcceptedTextFormatsToAcceptedText) {
  // The parser reads four-digit years only, so an offset that moves the instant out of
  // 0000..9999 would give a time format_iso writes with an extended year the parser rejects.
  EXPECT_FALSE(parse_iso("0000-01-01 00:50+0130").has_value());
  EXPECT_FALSE(parse_iso("0000-01-01T00:00:00.000+00:01").has_value());
  EXPECT_FALSE(parse_iso("9999-12-31T23:59:59.999-00:01").has_value());
  EXPECT_FALSE(parse_iso("9999-12-31T23:30-01:00").has_value());
  // The edges themselves stay valid, with or without an offset that keeps them inside.
  EXPECT_EQ(parse_iso("0000-01-01T01:30+01:30"), -62167219200000);
  EXPECT_EQ(parse_iso("9999-12-31T22:59:59.999-01:00"), 253402300799999);
  for (const char* text : {"0000-01-01 00:50+0130", "0000-01-01T00:00Z", "0000-01-01T23:59+23:59",
                           "0001-01-01T00:00+23:59", "9999-12-31T23:59:59.999Z",
                           "9999-12-31T00:00-23:59", "9999-12-31T23:59-00:01",
                           "2025-01-02T03:04:05.678+05:45", "1970-01-01T00:00-00:01"}) {
    const std::optional<int64_t> ms = parse_iso(text);
    if (!ms) continue;
    const std::string formatted = format_iso(*ms);
    EXPECT_EQ(parse_iso(formatted), ms) << text << " -> " << formatted;
  }
}
