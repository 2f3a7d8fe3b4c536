// json::value model, simdjson-based parsing and the escaping writer.

#include "domain/json.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace json = vigil::json;
using json::value;

namespace {

value parse_ok(std::string_view text) {
  std::string error;
  std::optional<value> v = json::parse(text, &error);
  EXPECT_TRUE(v.has_value()) << text << ": " << error;
  return v ? *v : value();
}

std::string parse_error(std::string_view text) {
  std::string error;
  std::optional<value> v = json::parse(text, &error);
  EXPECT_FALSE(v.has_value()) << text;
  EXPECT_FALSE(error.empty()) << text;
  return error;
}

std::string nested_arrays(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

/// Every JSON frame (`C->S` or `S->C`) of one capture file.
std::vector<std::string> capture_frames(const std::string& file) {
  std::ifstream in(std::string(VIGIL_TESTDATA_DIR) + "/trpc-frames/" + file);
  EXPECT_TRUE(in.good()) << file;
  std::vector<std::string> frames;
  std::string line;
  while (std::getline(in, line)) {
    for (const char* marker : {"] C->S ", "] S->C "}) {
      const size_t at = line.find(marker);
      if (at == std::string::npos) continue;
      std::string frame = line.substr(at + std::string(marker).size());
      if (!frame.empty() && (frame[0] == '{' || frame[0] == '[')) frames.push_back(frame);
    }
  }
  return frames;
}

} // namespace

// ---- model ---------------------------------------------------------------------------------------

TEST(JsonValue, DefaultIsNull) {
  value v;
  EXPECT_TRUE(v.is_null());
  EXPECT_EQ(v.type(), value::kind::null);
  EXPECT_EQ(value(nullptr).type(), value::kind::null);
  EXPECT_EQ(v.size(), 0u);
}

TEST(JsonValue, ScalarKinds) {
  EXPECT_TRUE(value(true).is_bool());
  EXPECT_TRUE(value(true).as_bool());
  EXPECT_FALSE(value(false).as_bool());
  EXPECT_TRUE(value(42).is_int());
  EXPECT_EQ(value(42).as_int(), 42);
  EXPECT_TRUE(value(int64_t{-7}).is_int());
  EXPECT_TRUE(value(1.5).is_number());
  EXPECT_FALSE(value(1.5).is_int());
  EXPECT_DOUBLE_EQ(value(1.5).as_double(), 1.5);
  EXPECT_TRUE(value("x").is_string());
  EXPECT_TRUE(value(std::string("x")).is_string());
  EXPECT_TRUE(value(std::string_view("x")).is_string());
  EXPECT_EQ(value("abc").as_string(), "abc");
  EXPECT_TRUE(value(static_cast<const char*>(nullptr)).is_null());
}

TEST(JsonValue, OtherIntegerTypesAreIntegers) {
  EXPECT_TRUE(value(5LL).is_int());
  EXPECT_EQ(value(5LL).as_int(), 5);
  EXPECT_TRUE(value(5u).is_int());
  EXPECT_TRUE(value(size_t{9}).is_int());
  EXPECT_EQ(value(size_t{9}).as_int(), 9);
  EXPECT_EQ(value(static_cast<short>(-3)).as_int(), -3);
  EXPECT_EQ(value(std::numeric_limits<long long>::min()).as_int(),
            std::numeric_limits<int64_t>::min());
}

TEST(JsonValue, Uint64BeyondInt64IsANumber) {
  const value small(uint64_t{12});
  EXPECT_TRUE(small.is_int());
  EXPECT_EQ(small.as_int(), 12);
  const value max_int(static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
  EXPECT_TRUE(max_int.is_int());
  const value big(uint64_t{9223372036854775808ull});
  EXPECT_FALSE(big.is_int());
  EXPECT_TRUE(big.is_number());
  EXPECT_DOUBLE_EQ(big.as_double(), 9223372036854775808.0);
}

TEST(JsonValue, AccessorsOnWrongKindAreHarmless) {
  const value s("text");
  EXPECT_FALSE(s.as_bool());
  EXPECT_EQ(s.as_int(), 0);
  EXPECT_EQ(s.as_double(), 0);
  EXPECT_TRUE(s.as_array().empty());
  EXPECT_TRUE(s.as_object().empty());
  EXPECT_EQ(s.find("x"), nullptr);
  EXPECT_EQ(value(3).as_string(), "");
  EXPECT_EQ(value(2.9).as_int(), 2);
  EXPECT_EQ(value(-2.9).as_int(), -2);
  EXPECT_EQ(value(1e300).as_int(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(value(-1e300).as_int(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(value(std::nan("")).as_int(), 0);
  EXPECT_DOUBLE_EQ(value(7).as_double(), 7.0);
}

TEST(JsonValue, MutableAccessorConvertsToContainer) {
  value v = 3;
  v.as_array().push_back(1);
  EXPECT_TRUE(v.is_array());
  EXPECT_EQ(v.size(), 1u);
  value o("x");
  o.as_object().emplace_back("k", 1);
  EXPECT_TRUE(o.is_object());
  ASSERT_NE(o.find("k"), nullptr);
}

TEST(JsonValue, ObjectSetKeepsInsertionOrderAndReplaces) {
  value o;
  o.set("b", 1).set("a", 2).set("c", 3);
  EXPECT_TRUE(o.is_object());
  EXPECT_EQ(json::to_string(o), R"({"b":1,"a":2,"c":3})");
  o.set("a", "x");
  EXPECT_EQ(json::to_string(o), R"({"b":1,"a":"x","c":3})");
  EXPECT_EQ(o.size(), 3u);
  ASSERT_NE(o.find("a"), nullptr);
  EXPECT_EQ(o.find("a")->as_string(), "x");
  EXPECT_EQ(o.find("missing"), nullptr);
  *o.find("c") = value(4);
  EXPECT_EQ(json::to_string(o), R"({"b":1,"a":"x","c":4})");
}

TEST(JsonValue, SetOnScalarTurnsItIntoObject) {
  value v = 5;
  v.set("k", true);
  EXPECT_EQ(json::to_string(v), R"({"k":true})");
}

TEST(JsonValue, Erase) {
  value o = value::make_object();
  o.set("a", 1).set("b", 2);
  EXPECT_TRUE(o.erase("a"));
  EXPECT_FALSE(o.erase("a"));
  EXPECT_EQ(json::to_string(o), R"({"b":2})");
  value s = "x";
  EXPECT_FALSE(s.erase("x"));
}

TEST(JsonValue, PushAndSize) {
  value a;
  a.push(1).push("two").push(value());
  EXPECT_TRUE(a.is_array());
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(json::to_string(a), R"([1,"two",null])");
  EXPECT_EQ(value::make_array().size(), 0u);
  EXPECT_EQ(json::to_string(value::make_array()), "[]");
  EXPECT_EQ(json::to_string(value::make_object()), "{}");
  EXPECT_EQ(value("abc").size(), 0u);
}

TEST(JsonValue, CopyIsDeep) {
  value a;
  a.set("list", value::make_array().push(1));
  value b = a;
  b.find("list")->push(2);
  EXPECT_EQ(json::to_string(a), R"({"list":[1]})");
  EXPECT_EQ(json::to_string(b), R"({"list":[1,2]})");
  value c;
  c = a;
  EXPECT_EQ(c, a);
  c = c; // self-assignment keeps the value
  EXPECT_EQ(json::to_string(c), R"({"list":[1]})");
}

TEST(JsonValue, MoveLeavesNull) {
  value a;
  a.set("k", "v");
  value b = std::move(a);
  EXPECT_TRUE(a.is_null()); // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(json::to_string(b), R"({"k":"v"})");
  value c;
  c = std::move(b);
  EXPECT_TRUE(b.is_null()); // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(json::to_string(c), R"({"k":"v"})");
  value d = value::date(0);
  value e = std::move(d);
  EXPECT_TRUE(e.is_date());
  EXPECT_FALSE(d.is_date()); // NOLINT(bugprone-use-after-move)
}

TEST(JsonValue, Equality) {
  EXPECT_EQ(value(), value(nullptr));
  EXPECT_EQ(value(1), value(int64_t{1}));
  EXPECT_EQ(value(1), value(1.0));
  EXPECT_NE(value(1), value(1.5));
  EXPECT_NE(value(1), value("1"));
  EXPECT_NE(value(true), value(1));
  EXPECT_EQ(value("a"), value("a"));
  EXPECT_NE(value("a"), value("b"));
  EXPECT_EQ(parse_ok(R"({"a":1,"b":[1,2]})"), parse_ok(R"({"b":[1,2],"a":1})"));
  EXPECT_NE(parse_ok(R"({"a":1})"), parse_ok(R"({"a":1,"b":2})"));
  EXPECT_NE(parse_ok(R"({"a":1,"c":2})"), parse_ok(R"({"a":1,"b":2})"));
  EXPECT_NE(parse_ok("[1,2]"), parse_ok("[2,1]"));
  EXPECT_EQ(value::date(0), value("1970-01-01T00:00:00.000Z"));
}

TEST(JsonValue, DateValues) {
  const value d = value::date(1735787045678);
  EXPECT_TRUE(d.is_date());
  EXPECT_TRUE(d.is_string());
  EXPECT_EQ(d.as_string(), "2025-01-02T03:04:05.678Z");
  EXPECT_FALSE(value("2025-01-02T03:04:05.678Z").is_date());
  value copy = d;
  EXPECT_TRUE(copy.is_date());
  copy.set_date_flag(false);
  EXPECT_FALSE(copy.is_date());
  value n = 5;
  n.set_date_flag(true);
  EXPECT_FALSE(n.is_date()); // only strings are dates
  EXPECT_TRUE(value::date_or_null(int64_t{0}).is_date());
  EXPECT_TRUE(value::date_or_null(std::nullopt).is_null());
  EXPECT_EQ(value::string_or_null(std::string("s")), value("s"));
  EXPECT_TRUE(value::string_or_null(std::nullopt).is_null());
}

// ---- parse ---------------------------------------------------------------------------------------

TEST(JsonParse, Scalars) {
  EXPECT_TRUE(parse_ok("null").is_null());
  EXPECT_EQ(parse_ok("true"), value(true));
  EXPECT_EQ(parse_ok("false"), value(false));
  EXPECT_EQ(parse_ok("\"hi\""), value("hi"));
  EXPECT_EQ(parse_ok("  42  ").as_int(), 42);
  EXPECT_TRUE(parse_ok("42").is_int());
}

TEST(JsonParse, IntegerLimits) {
  const value max = parse_ok("9223372036854775807");
  EXPECT_TRUE(max.is_int());
  EXPECT_EQ(max.as_int(), std::numeric_limits<int64_t>::max());
  const value min = parse_ok("-9223372036854775808");
  EXPECT_TRUE(min.is_int());
  EXPECT_EQ(min.as_int(), std::numeric_limits<int64_t>::min());
  const value beyond = parse_ok("9223372036854775808");
  EXPECT_FALSE(beyond.is_int());
  EXPECT_TRUE(beyond.is_number());
  EXPECT_DOUBLE_EQ(beyond.as_double(), 9223372036854775808.0);
  const value uint_max = parse_ok("18446744073709551615");
  EXPECT_FALSE(uint_max.is_int());
  EXPECT_DOUBLE_EQ(uint_max.as_double(), 18446744073709551615.0);
}

TEST(JsonParse, Doubles) {
  const value frac = parse_ok("1.5");
  EXPECT_FALSE(frac.is_int());
  EXPECT_DOUBLE_EQ(frac.as_double(), 1.5);
  EXPECT_FALSE(parse_ok("1.0").is_int()); // a fraction makes it a number, not an integer
  EXPECT_FALSE(parse_ok("1e2").is_int());
  EXPECT_DOUBLE_EQ(parse_ok("1e2").as_double(), 100.0);
  EXPECT_DOUBLE_EQ(parse_ok("1e300").as_double(), 1e300);
  EXPECT_DOUBLE_EQ(parse_ok("-2.5E-7").as_double(), -2.5e-7);
  const value neg_zero = parse_ok("-0");
  EXPECT_TRUE(neg_zero.is_number());
  EXPECT_EQ(neg_zero.as_double(), 0.0);
  EXPECT_EQ(json::to_string(neg_zero), "0");
  EXPECT_EQ(json::to_string(parse_ok("-0.0")), "0");
}

TEST(JsonParse, NumbersOutOfRangeAreErrors) {
  parse_error("1e400");
  parse_error("18446744073709551616");
}

TEST(JsonParse, ObjectsKeepOrderAndNest) {
  const value v = parse_ok(R"({"z":1,"a":{"b":[1,"x",null,true,{"c":2.5}]},"m":"n"})");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.as_object().size(), 3u);
  EXPECT_EQ(v.as_object()[0].first, "z");
  EXPECT_EQ(v.as_object()[1].first, "a");
  EXPECT_EQ(v.as_object()[2].first, "m");
  const value* b = v.find("a")->find("b");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->size(), 5u);
  EXPECT_TRUE(b->as_array()[2].is_null());
  EXPECT_DOUBLE_EQ(b->as_array()[4].find("c")->as_double(), 2.5);
}

TEST(JsonParse, DuplicateKeysLastValueWinsAtFirstPosition) {
  const value v = parse_ok(R"({"a":1,"b":2,"a":3})");
  EXPECT_EQ(json::to_string(v), R"({"a":3,"b":2})");
  // Many keys take the hashed path.
  std::string text = "{";
  for (int i = 0; i < 50; ++i) text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text += "\"k7\":\"last\"}";
  const value many = parse_ok(text);
  EXPECT_EQ(many.size(), 50u);
  EXPECT_EQ(many.as_object()[7].first, "k7");
  EXPECT_EQ(many.find("k7")->as_string(), "last");
}

TEST(JsonParse, StringEscapesAndUnicode) {
  EXPECT_EQ(parse_ok(R"("a\"b\\c\/d\n\r\t\b\f")").as_string(), "a\"b\\c/d\n\r\t\b\f");
  EXPECT_EQ(parse_ok(R"("\u00e9")").as_string(), "\xC3\xA9");
  EXPECT_EQ(parse_ok(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parse_ok("\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"").as_string(),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  const std::string with_nul = parse_ok(R"("a\u0000b")").as_string();
  EXPECT_EQ(with_nul, std::string("a\0b", 3));
}

TEST(JsonParse, MalformedInputs) {
  const std::string tape = parse_error("{not json");
  EXPECT_NE(tape.find("JSON"), std::string::npos) << tape;
  parse_error("");
  parse_error("   ");
  parse_error("{");
  parse_error("[1,]");
  parse_error("{\"a\":}");
  parse_error("{'a':1}");
  parse_error("\"unterminated");
  parse_error("nul");
  parse_error("01");
  parse_error("NaN");
  parse_error("Infinity");
  parse_error("\"\xFF\""); // invalid UTF-8
  parse_error("\"bad \\x escape\"");
  parse_error("\"raw\ncontrol\"");
}

TEST(JsonParse, TrailingGarbageIsRejected) {
  parse_error("{} x");
  parse_error("1 2");
  parse_error("{}{}");
  parse_error("[1]]");
  parse_error("true false");
}

TEST(JsonParse, NullErrorPointerIsAllowed) {
  EXPECT_FALSE(json::parse("{", nullptr).has_value());
  EXPECT_TRUE(json::parse("{}", nullptr).has_value());
}

TEST(JsonParse, DepthLimitIs256) {
  EXPECT_EQ(parse_ok(nested_arrays(256)).size(), 1u);
  const std::string error = parse_error(nested_arrays(257));
  EXPECT_NE(error.find("256"), std::string::npos) << error;
  std::string objects;
  for (int i = 0; i < 257; ++i) objects += "{\"a\":";
  objects += "1";
  objects += std::string(257, '}');
  parse_error(objects);
  parse_error(nested_arrays(100000));
}

TEST(JsonParse, LargeDocumentKeepsDepthLimit) {
  // Bigger than the initial parser capacity: the parser grows and must keep the depth limit.
  const std::string filler = "\"" + std::string(200000, 'x') + "\"";
  EXPECT_TRUE(json::parse("[" + filler + "," + nested_arrays(255) + "]", nullptr).has_value());
  std::string error;
  EXPECT_FALSE(json::parse("[" + filler + "," + nested_arrays(256) + "]", &error).has_value());
  EXPECT_NE(error.find("256"), std::string::npos);
}

TEST(JsonParse, ParserRecoversAfterError) {
  parse_error("{bad");
  EXPECT_EQ(parse_ok(R"({"ok":true})").find("ok")->as_bool(), true);
}

// ---- write ---------------------------------------------------------------------------------------

TEST(JsonWrite, Escaping) {
  std::string out;
  json::write_string(out, "q\"b\\n\nr\rt\tb\bf\f");
  EXPECT_EQ(out, R"("q\"b\\n\nr\rt\tb\bf\f")");
  out.clear();
  json::write_string(out, std::string("\x01\x1f\x00 \x7f/", 6));
  EXPECT_EQ(out, "\"\\u0001\\u001f\\u0000 \x7f/\"");
  out.clear();
  json::write_string(out, "");
  EXPECT_EQ(out, "\"\"");
}

TEST(JsonWrite, WriteStringAppends) {
  std::string out = "prefix:";
  json::write_string(out, "x");
  EXPECT_EQ(out, "prefix:\"x\"");
  json::write(out, value(1));
  EXPECT_EQ(out, "prefix:\"x\"1");
}

TEST(JsonWrite, UnicodePassesThrough) {
  const std::string text = "\"Zimmer 3 \xC3\xA9t\xC3\xA9 \xE2\x80\xA8 \xF0\x9F\x9A\x91\"";
  EXPECT_EQ(json::to_string(parse_ok(text)), text);
}

TEST(JsonWrite, AllControlCharactersEscapedAndReparsed) {
  std::string raw;
  for (int c = 0; c < 0x20; ++c) raw += static_cast<char>(c);
  const std::string text = json::to_string(value(raw));
  for (char c : text) EXPECT_GE(static_cast<unsigned char>(c), 0x20);
  EXPECT_EQ(parse_ok(text).as_string(), raw);
}

TEST(JsonWrite, Integers) {
  EXPECT_EQ(json::to_string(value(0)), "0");
  EXPECT_EQ(json::to_string(value(-17)), "-17");
  EXPECT_EQ(json::to_string(value(std::numeric_limits<int64_t>::max())), "9223372036854775807");
  EXPECT_EQ(json::to_string(value(std::numeric_limits<int64_t>::min())), "-9223372036854775808");
}

TEST(JsonWrite, Doubles) {
  EXPECT_EQ(json::to_string(value(0.1)), "0.1");
  EXPECT_EQ(json::to_string(value(1.5)), "1.5");
  EXPECT_EQ(json::to_string(value(3.0)), "3");
  EXPECT_EQ(json::to_string(value(0.67)), "0.67");
  EXPECT_EQ(json::to_string(value(-0.0)), "0");
  EXPECT_EQ(json::to_string(value(1e300)), "1e+300");
  EXPECT_EQ(json::to_string(value(std::numeric_limits<double>::quiet_NaN())), "null");
  EXPECT_EQ(json::to_string(value(std::numeric_limits<double>::infinity())), "null");
  EXPECT_EQ(json::to_string(value(-std::numeric_limits<double>::infinity())), "null");
}

TEST(JsonWrite, DoublesRoundTripExactly) {
  const double samples[] = {0.1 + 0.2, 1.0 / 3.0, -123456.789, 5e-324, 1.7976931348623157e308,
                            2.2250738585072014e-308, 9007199254740993.0, 12345678901234567890.0};
  for (double d : samples) {
    const std::string text = json::to_string(value(d));
    EXPECT_EQ(parse_ok(text).as_double(), d) << text;
  }
}

TEST(JsonWrite, NumbersBeyondInt64ParseBack) {
  // A whole double beyond int64 written in plain digits can exceed uint64, which the parser
  // refuses ("518446744073709551616"); such numbers are written with an exponent.
  for (const char* text : {"518446744073709551616e0", "18446744073709551615", "18446744073709551616e0",
                           "9223372036854775808", "-9223372036854775809e0", "-1e19", "1e20", "1e21",
                           "1.7976931348623157e308", "-1.7976931348623157e308", "4e18"}) {
    const value v = parse_ok(text);
    const std::string written = json::to_string(v);
    std::string error;
    const std::optional<value> back = json::parse(written, &error);
    ASSERT_TRUE(back.has_value()) << text << " -> " << written << ": " << error;
    EXPECT_EQ(back->as_double(), v.as_double()) << text << " -> " << written;
    EXPECT_EQ(json::to_string(*back), written) << text; // stable from the first write on
  }
  EXPECT_EQ(json::to_string(value(1.8446744073709552e19)), "1.8446744073709552e+19");
  // Whole doubles that fit int64 keep their plain form.
  EXPECT_EQ(json::to_string(value(1234567890123456789.0)), "1234567890123456768");
  EXPECT_EQ(json::to_string(value(9007199254740993.0)), "9007199254740992");
}

TEST(JsonWrite, DatesAreWrittenAsPlainStrings) {
  value o;
  o.set("at", value::date(0));
  EXPECT_EQ(json::to_string(o), R"({"at":"1970-01-01T00:00:00.000Z"})");
}

TEST(JsonWrite, NestedContainers) {
  value v;
  v.set("a", value::make_array().push(value::make_object()).push(value::make_array()));
  v.set("b", value());
  v.set("c", false);
  EXPECT_EQ(json::to_string(v), R"({"a":[{},[]],"b":null,"c":false})");
}

TEST(JsonWrite, KeysAreEscaped) {
  value v;
  v.set("k\"\n", 1);
  EXPECT_EQ(json::to_string(v), R"({"k\"\n":1})");
}

TEST(JsonRoundTrip, CapturedFramesAreReproducedByteForByte) {
  // Every frame of the captures was written by JSON.stringify; parse + write must give it back.
  size_t checked = 0;
  for (const char* file :
       {"capture-v11.25.2-plain.txt", "capture-v11.25.2-superjson.txt",
        "capture-client11.1.4-server11.3.1-superjson.txt", "capture-v11.25.2-appshaped.txt",
        "capture-client11.1.4-server11.3.1-appshaped.txt", "capture-hybrid-flat-tracked.txt"}) {
    for (const std::string& frame : capture_frames(file)) {
      std::optional<value> v = json::parse(frame, nullptr);
      if (!v) continue; // the deliberately malformed probe frame
      EXPECT_EQ(json::to_string(*v), frame) << file;
      ++checked;
    }
  }
  EXPECT_GT(checked, 300u);
}

TEST(JsonRoundTrip, WriteThenParseGivesEqualValue) {
  value v;
  v.set("s", "line\nbreak \"quoted\" \xC3\xA9");
  v.set("i", std::numeric_limits<int64_t>::min());
  v.set("d", -1.25e-10);
  v.set("l", value::make_array().push(true).push(value()).push(value::make_object().set("x", 1)));
  EXPECT_EQ(parse_ok(json::to_string(v)), v);
}
