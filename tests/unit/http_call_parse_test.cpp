// Parsing a tRPC HTTP request into its calls (domain/http_call_parse.hpp).

#include "domain/http_call_parse.hpp"

#include <gtest/gtest.h>

namespace vigil {
namespace {

http_call_view get(std::string_view path, bool batch, std::optional<std::string_view> input) {
  http_call_view v;
  v.path = path;
  v.batch = batch;
  v.has_input = input.has_value();
  v.input = input.value_or("");
  return v;
}

http_call_view post(std::string_view path, bool batch, std::string_view body,
                    std::string_view content_type = "application/json") {
  http_call_view v;
  v.post = true;
  v.path = path;
  v.batch = batch;
  v.body = body;
  v.content_type = content_type;
  return v;
}

http_calls calls_of(const http_call_view& v, transformer_mode t = transformer_mode::auto_detect) {
  auto r = parse_http_call(v, t);
  if (auto* refused = std::get_if<http_refusal>(&r)) {
    ADD_FAILURE() << "refused: " << refused->status << " " << refused->body;
    return {};
  }
  return std::get<http_calls>(r);
}

http_refusal refusal_of(const http_call_view& v) {
  auto r = parse_http_call(v, transformer_mode::auto_detect);
  if (auto* refused = std::get_if<http_refusal>(&r))
    return *refused;
  ADD_FAILURE() << "accepted";
  return {};
}

TEST(split_paths, BatchSplitsAtCommasKeepingEmptyParts) {
  EXPECT_EQ(split_paths("a,b", false), (std::vector<std::string>{"a,b"}));
  EXPECT_EQ(split_paths("a,b", true), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(split_paths("a,,b,", true), (std::vector<std::string>{"a", "", "b", ""}));
  EXPECT_EQ(split_paths("", true), (std::vector<std::string>{""}));
}

TEST(acceptable_content_type, JsonOnlyAnyCaseWithParameters) {
  EXPECT_TRUE(acceptable_content_type(""));
  EXPECT_TRUE(acceptable_content_type("  "));
  EXPECT_TRUE(acceptable_content_type("application/json"));
  EXPECT_TRUE(acceptable_content_type("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(acceptable_content_type("application/json, application/json"));
  EXPECT_FALSE(acceptable_content_type("text/plain"));
  EXPECT_FALSE(acceptable_content_type("application/json, text/plain"));
  EXPECT_FALSE(acceptable_content_type("application/jsonl"));
}

TEST(parse_http_call, GetSingleWithAndWithoutInput) {
  auto c = calls_of(get("healthcare.getAlert", false, R"({"alertId":"x"})"));
  EXPECT_EQ(c.method, trpc::rpc_method::query);
  ASSERT_EQ(c.items.size(), 1u);
  EXPECT_EQ(c.items[0].path, "healthcare.getAlert");
  EXPECT_TRUE(c.items[0].has_input);
  EXPECT_EQ(json::to_string(c.items[0].input), R"({"alertId":"x"})");
  EXPECT_FALSE(c.items[0].superjson);

  auto none = calls_of(get("healthcare.getMetrics", false, std::nullopt));
  ASSERT_EQ(none.items.size(), 1u);
  EXPECT_FALSE(none.items[0].has_input);
}

TEST(parse_http_call, PostBodyIsTheInputAndBlankBodyIsNone) {
  auto c = calls_of(post("healthcare.createAlert", false, R"({"hospitalId":"h1"})"));
  EXPECT_EQ(c.method, trpc::rpc_method::mutation);
  ASSERT_EQ(c.items.size(), 1u);
  EXPECT_TRUE(c.items[0].has_input);
  auto blank = calls_of(post("healthcare.createAlert", false, " \r\n\t"));
  EXPECT_FALSE(blank.items[0].has_input);
  // GET ignores the body, POST ignores ?input=.
  auto v = post("healthcare.createAlert", false, "");
  v.has_input = true;
  v.input = "{}";
  EXPECT_FALSE(calls_of(v).items[0].has_input);
}

TEST(parse_http_call, BatchTakesInputsByIndexInOrder) {
  auto c = calls_of(get("healthcare.getAlert,healthcare.getMetrics,healthcare.getAlertStats", true,
                        R"({"0":{"alertId":"a"},"2":{"json":{"hospitalId":"h1"}}})"));
  ASSERT_EQ(c.items.size(), 3u);
  EXPECT_EQ(c.items[0].path, "healthcare.getAlert");
  EXPECT_TRUE(c.items[0].has_input);
  EXPECT_FALSE(c.items[0].superjson);
  EXPECT_EQ(c.items[1].path, "healthcare.getMetrics");
  EXPECT_FALSE(c.items[1].has_input);
  EXPECT_FALSE(c.items[1].superjson);
  EXPECT_TRUE(c.items[2].has_input);
  EXPECT_TRUE(c.items[2].superjson); // per item, under auto
}

TEST(parse_http_call, TransformerForcesEveryItemsEncoding) {
  auto v = get("a,b", true, R"({"0":{"json":1}})");
  auto sj = calls_of(v, transformer_mode::superjson);
  EXPECT_TRUE(sj.items[0].superjson);
  EXPECT_TRUE(sj.items[1].superjson);
  auto plain = calls_of(v, transformer_mode::json);
  EXPECT_FALSE(plain.items[0].superjson);
  EXPECT_FALSE(plain.items[1].superjson);
  // The input itself is kept as sent either way (decoded later by its shape).
  EXPECT_EQ(json::to_string(plain.items[0].input), R"({"json":1})");
}

TEST(parse_http_call, StreamingIsRefusedFirst) {
  auto v = post("healthcare.a,healthcare.b", true, "not json", "text/plain");
  v.trpc_accept = "Application/JSONL";
  auto r = refusal_of(v);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.counted, trpc_code::bad_request);
  EXPECT_NE(r.body.find("Streaming responses"), std::string::npos);
  EXPECT_NE(r.body.find(R"("path":"healthcare.a")"), std::string::npos);
  EXPECT_EQ(r.body.front(), '{');
}

TEST(parse_http_call, NonJsonContentTypeIs415WithoutPath) {
  auto r = refusal_of(post("healthcare.createAlert", false, "{}", "text/plain"));
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(r.counted, trpc_code::unsupported_media_type);
  EXPECT_NE(r.body.find(R"(Unsupported content-type \"text/plain\")"), std::string::npos);
  EXPECT_EQ(r.body.find(R"("path")"), std::string::npos);
  // A GET's Content-Type is not looked at.
  auto g = get("healthcare.getMetrics", false, std::nullopt);
  g.content_type = "text/plain";
  EXPECT_EQ(calls_of(g).items.size(), 1u);
}

TEST(parse_http_call, MalformedJsonSingleIsCountedBatchIsOnePerPath) {
  auto single = refusal_of(get("healthcare.getAlert", false, "{nope"));
  EXPECT_EQ(single.status, 400);
  EXPECT_EQ(single.counted, trpc_code::bad_request);
  EXPECT_EQ(single.body.front(), '{');

  auto batch = refusal_of(post("healthcare.a,healthcare.b", true, "{nope"));
  EXPECT_EQ(batch.status, 400);
  EXPECT_FALSE(batch.counted.has_value());
  EXPECT_EQ(batch.body.front(), '[');
  EXPECT_NE(batch.body.find(R"("path":"healthcare.a")"), std::string::npos);
  EXPECT_NE(batch.body.find(R"("path":"healthcare.b")"), std::string::npos);
}

TEST(parse_http_call, BatchInputMustBeAnObject) {
  auto r = refusal_of(get("healthcare.a,healthcare.b", true, "[1,2]"));
  EXPECT_EQ(r.status, 400);
  EXPECT_FALSE(r.counted.has_value());
  EXPECT_NE(r.body.find(R"(\"input\" needs to be an object when doing a batch call)"),
            std::string::npos);
  EXPECT_EQ(r.body.front(), '[');
  // Not in single mode: any JSON value is an input there.
  EXPECT_EQ(calls_of(get("healthcare.getAlert", false, "[1,2]")).items.size(), 1u);
}

} // namespace
} // namespace vigil
