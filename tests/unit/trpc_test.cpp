// tRPC wire codec: error table, request frame and connection-params parsing, reply encoders.
// Vectors come from the captured frames in tests/data/trpc-frames.

#include "domain/trpc.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace json = vigil::json;
namespace trpc = vigil::trpc;
using json::value;
using vigil::call_error;
using vigil::trpc_code;

namespace {

const char* const capture_files[] = {
    "capture-v11.25.2-plain.txt",
    "capture-v11.25.2-superjson.txt",
    "capture-client11.1.4-server11.3.1-superjson.txt",
    "capture-v11.25.2-appshaped.txt",
    "capture-client11.1.4-server11.3.1-appshaped.txt",
    "capture-hybrid-flat-tracked.txt",
};

std::vector<std::string> read_lines(const std::string& file) {
  std::ifstream in(std::string(VIGIL_TESTDATA_DIR) + "/trpc-frames/" + file);
  EXPECT_TRUE(in.good()) << file;
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

/// The text frames of one direction (`"C->S"` or `"S->C"`) of a capture, PING/PONG excluded.
std::vector<std::string> capture_frames(const std::string& file, const std::string& direction) {
  std::vector<std::string> frames;
  const std::string marker = "] " + direction + " ";
  for (const std::string& line : read_lines(file)) {
    const size_t at = line.find(marker);
    if (at == std::string::npos) continue;
    std::string frame = line.substr(at + marker.size());
    if (frame != "PING" && frame != "PONG") frames.push_back(frame);
  }
  return frames;
}

/// HTTP response bodies (the line after `[http] -> <status>`) of a capture.
std::vector<std::string> http_bodies(const std::string& file) {
  std::vector<std::string> bodies;
  const std::vector<std::string> lines = read_lines(file);
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i].find("[http] -> ") == std::string::npos) continue;
    const std::string& body = lines[i + 1];
    const size_t start = body.find_first_not_of(' ');
    if (start != std::string::npos) bodies.push_back(body.substr(start));
  }
  return bodies;
}

trpc::ws_frame parse_frame_ok(std::string_view text) {
  auto result = trpc::parse_ws_frame(text);
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << text << " -> " << *error;
    return {};
  }
  return std::get<trpc::ws_frame>(std::move(result));
}

std::string parse_frame_error(std::string_view text) {
  auto result = trpc::parse_ws_frame(text);
  if (!std::holds_alternative<std::string>(result)) {
    ADD_FAILURE() << "accepted: " << text;
    return {};
  }
  return std::get<std::string>(result);
}

value parse_json(std::string_view text) {
  std::optional<value> v = json::parse(text, nullptr);
  EXPECT_TRUE(v.has_value()) << text;
  return v ? *v : value();
}

call_error err(trpc_code code, std::string message) { return call_error{code, std::move(message)}; }

/// Rebuilds the call_error and path of a captured error shape.
std::pair<call_error, std::string> error_from_shape(const value& shape) {
  call_error e;
  e.message = shape.find("message")->as_string();
  const value* data = shape.find("data");
  auto code = vigil::code_from_name(data->find("code")->as_string());
  EXPECT_TRUE(code.has_value());
  e.code = code.value_or(trpc_code::internal_server_error);
  EXPECT_EQ(shape.find("code")->as_int(), vigil::jsonrpc_code(e.code));
  EXPECT_EQ(data->find("httpStatus")->as_int(), vigil::http_status(e.code));
  const value* path = data->find("path");
  return {e, path ? path->as_string() : std::string()};
}

/// A data payload as the server had it: superjson envelopes decoded (dates flagged).
std::pair<value, bool> payload(const value& data) {
  if (!trpc::is_superjson_envelope(data)) return {data, false};
  auto decoded = trpc::decode_superjson(data);
  EXPECT_TRUE(std::holds_alternative<trpc::decoded_input>(decoded));
  return {std::get<trpc::decoded_input>(decoded).value, true};
}

std::pair<call_error, std::string> error_payload(const value& error, bool* superjson) {
  *superjson = trpc::is_superjson_envelope(error);
  return error_from_shape(*superjson ? *error.find("json") : error);
}

/// Re-encodes a captured server frame with our encoders; nullopt for frames we do not produce
/// this way (tracked frames put `result.id` after `data`).
std::optional<std::string> reencode_ws(const value& frame) {
  if (frame.find("method") != nullptr) return trpc::ws_reconnect();
  const value& id = *frame.find("id");
  const bool jsonrpc = frame.find("jsonrpc") != nullptr;
  if (const value* error = frame.find("error")) {
    bool superjson = false;
    auto [e, path] = error_payload(*error, &superjson);
    return trpc::ws_error(id, jsonrpc, e, path, superjson);
  }
  const value* result = frame.find("result");
  const std::string& type = result->find("type")->as_string();
  if (type == "started") return trpc::ws_started(id, jsonrpc);
  if (type == "stopped") return trpc::ws_stopped(id, jsonrpc);
  if (result->find("id") != nullptr) return std::nullopt;
  auto [data, superjson] = payload(*result->find("data"));
  return trpc::ws_data(id, jsonrpc, data, superjson);
}

std::optional<std::string> reencode_http_item(const value& item) {
  if (const value* error = item.find("error")) {
    bool superjson = false;
    auto [e, path] = error_payload(*error, &superjson);
    if (error->find("json") == nullptr && error->find("data")->find("stack") != nullptr) {
      return std::nullopt; // development-mode stack traces are never sent
    }
    return trpc::http_error(e, path, superjson);
  }
  const value* result = item.find("result");
  if (result == nullptr || result->find("data") == nullptr) return std::nullopt;
  auto [data, superjson] = payload(*result->find("data"));
  return trpc::http_result(data, superjson);
}

} // namespace

// ---- error table ---------------------------------------------------------------------------------

TEST(ErrorTable, CodesMatchTheSpec) {
  struct row {
    trpc_code code;
    const char* name;
    int jsonrpc;
    int http;
  };
  const row rows[] = {
      {trpc_code::parse_error, "PARSE_ERROR", -32700, 400},
      {trpc_code::bad_request, "BAD_REQUEST", -32600, 400},
      {trpc_code::unauthorized, "UNAUTHORIZED", -32001, 401},
      {trpc_code::forbidden, "FORBIDDEN", -32003, 403},
      {trpc_code::not_found, "NOT_FOUND", -32004, 404},
      {trpc_code::method_not_supported, "METHOD_NOT_SUPPORTED", -32005, 405},
      {trpc_code::conflict, "CONFLICT", -32009, 409},
      {trpc_code::payload_too_large, "PAYLOAD_TOO_LARGE", -32013, 413},
      {trpc_code::unsupported_media_type, "UNSUPPORTED_MEDIA_TYPE", -32015, 415},
      {trpc_code::too_many_requests, "TOO_MANY_REQUESTS", -32029, 429},
      {trpc_code::internal_server_error, "INTERNAL_SERVER_ERROR", -32603, 500},
      {trpc_code::service_unavailable, "SERVICE_UNAVAILABLE", -32603, 503},
  };
  for (const row& r : rows) {
    EXPECT_STREQ(vigil::code_name(r.code), r.name);
    EXPECT_EQ(vigil::jsonrpc_code(r.code), r.jsonrpc) << r.name;
    EXPECT_EQ(vigil::http_status(r.code), r.http) << r.name;
    EXPECT_EQ(vigil::code_from_name(r.name), r.code) << r.name;
  }
  EXPECT_FALSE(vigil::code_from_name("TEAPOT").has_value());
  EXPECT_FALSE(vigil::code_from_name("bad_request").has_value());
  EXPECT_FALSE(vigil::code_from_name("").has_value());
}

TEST(ErrorShape, WithAndWithoutPath) {
  EXPECT_EQ(json::to_string(vigil::error_shape(err(trpc_code::conflict, "Alert is not active"),
                                               "healthcare.acknowledgeAlert")),
            R"({"message":"Alert is not active","code":-32009,"data":{"code":"CONFLICT","httpStatus":409,"path":"healthcare.acknowledgeAlert"}})");
  EXPECT_EQ(json::to_string(vigil::error_shape(err(trpc_code::parse_error, "x"), "")),
            R"({"message":"x","code":-32700,"data":{"code":"PARSE_ERROR","httpStatus":400}})");
  EXPECT_EQ(json::to_string(vigil::error_shape(call_error{}, "")),
            R"({"message":"","code":-32603,"data":{"code":"INTERNAL_SERVER_ERROR","httpStatus":500}})");
}

// ---- parse_ws_frame: captured frames -------------------------------------------------------------

TEST(ParseWsFrame, EveryCapturedClientRequestParses) {
  size_t parsed = 0;
  for (const char* file : capture_files) {
    for (const std::string& frame : capture_frames(file, "C->S")) {
      if (frame.find("\"connectionParams\"") != std::string::npos) continue;
      // The raw probes of A.12.6 that must fail (checked below).
      if (frame == "{not json" || frame.find("\"id\":null") != std::string::npos ||
          frame.find("frobnicate") != std::string::npos) {
        continue;
      }
      trpc::ws_frame f = parse_frame_ok(frame);
      EXPECT_FALSE(f.requests.empty()) << frame;
      for (const trpc::ws_request& r : f.requests) {
        EXPECT_TRUE(r.id.is_number() || r.id.is_string()) << frame;
        if (r.method != trpc::rpc_method::subscription_stop) {
          EXPECT_FALSE(r.path.empty()) << frame;
        }
        if (r.has_input) {
          bool superjson = false;
          auto decoded = trpc::decode_input(true, r.input, &superjson);
          EXPECT_TRUE(std::holds_alternative<trpc::decoded_input>(decoded)) << frame;
        }
      }
      ++parsed;
    }
  }
  EXPECT_GT(parsed, 100u);
}

TEST(ParseWsFrame, CapturedProbesFailWithTrpcMessages) {
  EXPECT_FALSE(parse_frame_error("{not json").empty());
  EXPECT_EQ(parse_frame_error(R"({"id":null,"method":"query","params":{"path":"noInput"}})"),
            "`id` is required");
  EXPECT_EQ(parse_frame_error(R"({"id":5,"method":"frobnicate","params":{"path":"noInput"}})"),
            "Invalid procedure type");
}

TEST(ParseWsFrame, SingleQueryWithInput) {
  const trpc::ws_frame f =
      parse_frame_ok(R"({"id":1,"method":"query","params":{"input":{"name":"ann"},"path":"greet"}})");
  EXPECT_FALSE(f.batch);
  ASSERT_EQ(f.requests.size(), 1u);
  const trpc::ws_request& r = f.requests[0];
  EXPECT_EQ(json::to_string(r.id), "1");
  EXPECT_FALSE(r.jsonrpc);
  EXPECT_EQ(r.method, trpc::rpc_method::query);
  EXPECT_EQ(r.path, "greet");
  EXPECT_TRUE(r.has_input);
  EXPECT_EQ(json::to_string(r.input), R"({"name":"ann"})");
  EXPECT_FALSE(r.last_event_id.has_value());
}

TEST(ParseWsFrame, QueryWithoutInput) {
  const trpc::ws_frame f = parse_frame_ok(R"({"id":3,"method":"query","params":{"path":"whoami"}})");
  ASSERT_EQ(f.requests.size(), 1u);
  EXPECT_FALSE(f.requests[0].has_input);
  EXPECT_TRUE(f.requests[0].input.is_null());
}

TEST(ParseWsFrame, NullInputIsPresent) {
  const trpc::ws_frame f =
      parse_frame_ok(R"({"id":3,"method":"mutation","params":{"path":"p","input":null}})");
  ASSERT_EQ(f.requests.size(), 1u);
  EXPECT_EQ(f.requests[0].method, trpc::rpc_method::mutation);
  EXPECT_TRUE(f.requests[0].has_input);
  EXPECT_TRUE(f.requests[0].input.is_null());
}

TEST(ParseWsFrame, StringIdAndJsonrpcEcho) {
  const trpc::ws_frame f = parse_frame_ok(
      R"({"id":"str-id","jsonrpc":"2.0","method":"query","params":{"path":"noInput"}})");
  ASSERT_EQ(f.requests.size(), 1u);
  EXPECT_EQ(f.requests[0].id, value("str-id"));
  EXPECT_TRUE(f.requests[0].jsonrpc);
  EXPECT_EQ(trpc::ws_data(f.requests[0].id, f.requests[0].jsonrpc, value("ok"), false),
            R"({"id":"str-id","jsonrpc":"2.0","result":{"type":"data","data":"ok"}})");
}

TEST(ParseWsFrame, UnusualButValidIds) {
  EXPECT_EQ(json::to_string(parse_frame_ok(R"({"id":"","method":"subscription.stop"})").requests[0].id),
            "\"\"");
  EXPECT_EQ(json::to_string(parse_frame_ok(R"({"id":-4,"method":"subscription.stop"})").requests[0].id),
            "-4");
  EXPECT_EQ(json::to_string(parse_frame_ok(R"({"id":1.5,"method":"subscription.stop"})").requests[0].id),
            "1.5");
  EXPECT_EQ(json::to_string(parse_frame_ok(R"({"id":0,"method":"subscription.stop"})").requests[0].id),
            "0");
}

TEST(ParseWsFrame, BigNumericIdsAreEchoedInAFormTheParserReads) {
  // Ids beyond int64/uint64 are doubles; the reply's id must parse back to the same value.
  for (const char* id : {"518446744073709551616e0", "18446744073709551615", "9223372036854775808",
                         "-9223372036854775809e0", "1e300", "-1.7976931348623157e308",
                         "9223372036854775807", "-9223372036854775808", "4.5e15"}) {
    const std::string frame = std::string(R"({"id":)") + id + R"(,"method":"subscription.stop"})";
    const trpc::ws_frame parsed = parse_frame_ok(frame);
    ASSERT_EQ(parsed.requests.size(), 1u) << id;
    const std::string reply = trpc::ws_stopped(parsed.requests[0].id, false);
    std::string error;
    const std::optional<value> back = json::parse(reply, &error);
    ASSERT_TRUE(back.has_value()) << id << " -> " << reply << ": " << error;
    EXPECT_EQ(*back->find("id"), parsed.requests[0].id) << id << " -> " << reply;
  }
}

TEST(ParseWsFrame, SubscriptionWithLastEventId) {
  const trpc::ws_frame f = parse_frame_ok(
      R"({"id":1,"method":"subscription","params":{"input":{"json":{"hospitalId":"h-1"}},"path":"healthcare.subscribeToAlerts","lastEventId":"evt-102"}})");
  ASSERT_EQ(f.requests.size(), 1u);
  const trpc::ws_request& r = f.requests[0];
  EXPECT_EQ(r.method, trpc::rpc_method::subscription);
  EXPECT_EQ(r.path, "healthcare.subscribeToAlerts");
  ASSERT_TRUE(r.last_event_id.has_value());
  EXPECT_EQ(*r.last_event_id, "evt-102");
  EXPECT_TRUE(trpc::is_superjson_envelope(r.input));
}

TEST(ParseWsFrame, NullLastEventIdIsAbsent) {
  const trpc::ws_frame f = parse_frame_ok(
      R"({"id":1,"method":"subscription","params":{"path":"ticks","lastEventId":null}})");
  EXPECT_FALSE(f.requests[0].last_event_id.has_value());
}

TEST(ParseWsFrame, StopNeedsNoParams) {
  const trpc::ws_frame f = parse_frame_ok(R"({"id":12,"method":"subscription.stop"})");
  ASSERT_EQ(f.requests.size(), 1u);
  EXPECT_EQ(f.requests[0].method, trpc::rpc_method::subscription_stop);
  EXPECT_TRUE(f.requests[0].path.empty());
  EXPECT_FALSE(f.requests[0].has_input);
  // Whatever params a stop carries are ignored.
  EXPECT_EQ(parse_frame_ok(R"({"id":12,"method":"subscription.stop","params":7})").requests.size(), 1u);
}

TEST(ParseWsFrame, BatchKeepsOrder) {
  const trpc::ws_frame f = parse_frame_ok(
      R"([{"id":1,"method":"query","params":{"path":"greet","input":{"name":"z"}}},{"id":2,"method":"subscription","params":{"path":"ticks","lastEventId":"41"}},{"id":3,"method":"subscription.stop"}])");
  EXPECT_TRUE(f.batch);
  ASSERT_EQ(f.requests.size(), 3u);
  EXPECT_EQ(f.requests[0].path, "greet");
  EXPECT_EQ(f.requests[1].method, trpc::rpc_method::subscription);
  EXPECT_EQ(f.requests[1].last_event_id.value_or(""), "41");
  EXPECT_EQ(f.requests[2].method, trpc::rpc_method::subscription_stop);
}

TEST(ParseWsFrame, BatchOfOneIsStillABatch) {
  const trpc::ws_frame f = parse_frame_ok(R"([{"id":1,"method":"subscription.stop"}])");
  EXPECT_TRUE(f.batch);
  EXPECT_EQ(f.requests.size(), 1u);
}

TEST(ParseWsFrame, UnknownKeysAreIgnored) {
  const trpc::ws_frame f = parse_frame_ok(
      R"({"id":1,"extra":true,"method":"query","params":{"path":"p","cursor":5}})");
  EXPECT_EQ(f.requests[0].path, "p");
}

TEST(ParseWsFrame, MethodNames) {
  EXPECT_STREQ(trpc::method_name(trpc::rpc_method::query), "query");
  EXPECT_STREQ(trpc::method_name(trpc::rpc_method::mutation), "mutation");
  EXPECT_STREQ(trpc::method_name(trpc::rpc_method::subscription), "subscription");
  EXPECT_STREQ(trpc::method_name(trpc::rpc_method::subscription_stop), "subscription.stop");
}

// ---- parse_ws_frame: malformed frames ------------------------------------------------------------

TEST(ParseWsFrame, NotJson) {
  for (const char* text : {"{not json", "", "PING ", "{\"id\":1,", "[{\"id\":1}", "{} {}",
                           "{\"id\":1,\"method\":\"query\",\"params\":{\"path\":\"p\"}} x"}) {
    EXPECT_FALSE(parse_frame_error(text).empty()) << text;
  }
}

TEST(ParseWsFrame, NotAnObject) {
  EXPECT_EQ(parse_frame_error("42"), "Not an object");
  EXPECT_EQ(parse_frame_error("\"query\""), "Not an object");
  EXPECT_EQ(parse_frame_error("null"), "Not an object");
  EXPECT_EQ(parse_frame_error("[1]"), "Not an object");
  EXPECT_EQ(parse_frame_error("[[]]"), "Not an object");
}

TEST(ParseWsFrame, IdRequired) {
  EXPECT_EQ(parse_frame_error(R"({"method":"query","params":{"path":"p"}})"), "`id` is required");
  EXPECT_EQ(parse_frame_error(R"({"id":null,"method":"subscription.stop"})"), "`id` is required");
}

TEST(ParseWsFrame, IdOfWrongType) {
  EXPECT_EQ(parse_frame_error(R"({"id":true,"method":"query","params":{"path":"p"}})"),
            "Invalid request id");
  EXPECT_EQ(parse_frame_error(R"({"id":{},"method":"query","params":{"path":"p"}})"),
            "Invalid request id");
  EXPECT_EQ(parse_frame_error(R"({"id":[1],"method":"query","params":{"path":"p"}})"),
            "Invalid request id");
}

TEST(ParseWsFrame, JsonrpcMustBe20) {
  EXPECT_EQ(parse_frame_error(R"({"id":1,"jsonrpc":"1.0","method":"subscription.stop"})"),
            "Must be JSONRPC 2.0");
  EXPECT_EQ(parse_frame_error(R"({"id":1,"jsonrpc":2,"method":"subscription.stop"})"),
            "Must be JSONRPC 2.0");
  EXPECT_EQ(parse_frame_error(R"({"id":1,"jsonrpc":null,"method":"subscription.stop"})"),
            "Must be JSONRPC 2.0");
}

TEST(ParseWsFrame, BadMethod) {
  for (const char* text : {
           R"({"id":1,"params":{"path":"p"}})",
           R"({"id":1,"method":"QUERY","params":{"path":"p"}})",
           R"({"id":1,"method":"subscription.start","params":{"path":"p"}})",
           R"({"id":1,"method":"connectionParams","data":{}})",
           R"({"id":1,"method":3,"params":{"path":"p"}})",
           R"({"id":1,"method":null,"params":{"path":"p"}})",
       }) {
    EXPECT_EQ(parse_frame_error(text), "Invalid procedure type") << text;
  }
}

TEST(ParseWsFrame, ParamsMustBeAnObject) {
  EXPECT_EQ(parse_frame_error(R"({"id":1,"method":"query"})"), "Invalid params");
  EXPECT_EQ(parse_frame_error(R"({"id":1,"method":"query","params":null})"), "Invalid params");
  EXPECT_EQ(parse_frame_error(R"({"id":1,"method":"query","params":"greet"})"), "Invalid params");
  EXPECT_EQ(parse_frame_error(R"({"id":1,"method":"mutation","params":[]})"), "Invalid params");
}

TEST(ParseWsFrame, PathMustBeAString) {
  const std::string expected = "Invalid params: `path` must be a string";
  EXPECT_EQ(parse_frame_error(R"({"id":1,"method":"query","params":{}})"), expected);
  EXPECT_EQ(parse_frame_error(R"({"id":1,"method":"query","params":{"path":5}})"), expected);
  EXPECT_EQ(parse_frame_error(R"({"id":1,"method":"query","params":{"path":null}})"), expected);
  EXPECT_EQ(parse_frame_error(R"({"id":1,"method":"subscription","params":{"path":["a"]}})"),
            expected);
}

TEST(ParseWsFrame, LastEventIdMustBeAString) {
  EXPECT_EQ(parse_frame_error(
                R"({"id":1,"method":"subscription","params":{"path":"ticks","lastEventId":41}})"),
            "Invalid params: `lastEventId` must be a string");
  EXPECT_EQ(parse_frame_error(
                R"({"id":1,"method":"subscription","params":{"path":"ticks","lastEventId":{}}})"),
            "Invalid params: `lastEventId` must be a string");
}

TEST(ParseWsFrame, OneBadElementFailsTheWholeBatch) {
  EXPECT_EQ(parse_frame_error(
                R"([{"id":1,"method":"query","params":{"path":"a"}},{"id":null,"method":"query","params":{"path":"b"}}])"),
            "`id` is required");
  EXPECT_EQ(parse_frame_error(
                R"([{"id":1,"method":"query","params":{"path":"a"}},{"id":2,"method":"nope","params":{"path":"b"}},{"id":3,"method":"query","params":{"path":5}}])"),
            "Invalid procedure type");
  EXPECT_EQ(parse_frame_error(R"([{"id":1,"method":"subscription.stop"},7])"), "Not an object");
}

TEST(ParseWsFrame, EmptyBatchIsRejected) {
  EXPECT_EQ(parse_frame_error("[]"), "Empty batch");
  EXPECT_EQ(parse_frame_error("  [ ]  "), "Empty batch");
}

TEST(ParseWsFrame, DeepNestingIsRejected) {
  std::string deep = R"({"id":1,"method":"query","params":{"path":"p","input":)";
  deep += std::string(300, '[') + std::string(300, ']') + "}}";
  EXPECT_NE(parse_frame_error(deep).find("256"), std::string::npos);
  // Deep but within the limit: fine (the frame itself takes two levels).
  std::string ok = R"({"id":1,"method":"query","params":{"path":"p","input":)";
  ok += std::string(254, '[') + std::string(254, ']') + "}}";
  EXPECT_EQ(parse_frame_ok(ok).requests.size(), 1u);
}

// ---- connection params ---------------------------------------------------------------------------

TEST(ConnectionParams, CapturedFrames) {
  size_t seen = 0;
  for (const char* file : capture_files) {
    for (const std::string& frame : capture_frames(file, "C->S")) {
      if (frame.find("\"connectionParams\"") == std::string::npos) continue;
      ++seen;
      auto result = trpc::parse_connection_params(frame);
      if (frame.find("\"n\":1") != std::string::npos) {
        ASSERT_TRUE(std::holds_alternative<std::string>(result));
        EXPECT_EQ(std::get<std::string>(result), "Invalid connection params shape");
        continue;
      }
      ASSERT_TRUE(std::holds_alternative<trpc::connection_params>(result)) << frame;
      const auto& params = std::get<trpc::connection_params>(result);
      EXPECT_FALSE(params.token.has_value());
      if (frame.find("Bearer") != std::string::npos) {
        ASSERT_TRUE(params.authorization.has_value()) << frame;
        EXPECT_EQ(params.authorization->rfind("Bearer ", 0), 0u);
      } else {
        EXPECT_FALSE(params.authorization.has_value());
      }
    }
  }
  EXPECT_GT(seen, 10u);
}

TEST(ConnectionParams, ReadsTokenAndAuthorizationIgnoresOthers) {
  auto result = trpc::parse_connection_params(
      R"({"method":"connectionParams","data":{"authorization":"Bearer abc","extra":"x","token":"t.k.n"}})");
  ASSERT_TRUE(std::holds_alternative<trpc::connection_params>(result));
  const auto& params = std::get<trpc::connection_params>(result);
  EXPECT_EQ(params.authorization.value_or(""), "Bearer abc");
  EXPECT_EQ(params.token.value_or(""), "t.k.n");
}

TEST(ConnectionParams, NullAndEmptyData) {
  for (const char* text : {R"({"method":"connectionParams","data":null})",
                           R"({"method":"connectionParams","data":{}})"}) {
    auto result = trpc::parse_connection_params(text);
    ASSERT_TRUE(std::holds_alternative<trpc::connection_params>(result)) << text;
    EXPECT_FALSE(std::get<trpc::connection_params>(result).token.has_value());
    EXPECT_FALSE(std::get<trpc::connection_params>(result).authorization.has_value());
  }
}

TEST(ConnectionParams, MalformedEnvelope) {
  for (const char* text : {"{not json", "", "[]", "\"connectionParams\"", "null",
                           R"({"data":{}})", R"({"method":"query","data":{}})",
                           R"({"method":null,"data":{}})",
                           R"({"id":1,"method":"query","params":{"path":"p"}})"}) {
    auto result = trpc::parse_connection_params(text);
    ASSERT_TRUE(std::holds_alternative<std::string>(result)) << text;
    EXPECT_EQ(std::get<std::string>(result), "Malformed TRPCConnectionParamsMessage") << text;
  }
}

TEST(ConnectionParams, BadDataShape) {
  for (const char* text : {R"({"method":"connectionParams"})",
                           R"({"method":"connectionParams","data":{"n":1}})",
                           R"({"method":"connectionParams","data":{"token":null}})",
                           R"({"method":"connectionParams","data":{"a":"x","token":{"v":"t"}}})",
                           R"({"method":"connectionParams","data":[]})",
                           R"({"method":"connectionParams","data":"Bearer x"})",
                           R"({"method":"connectionParams","data":true})"}) {
    auto result = trpc::parse_connection_params(text);
    ASSERT_TRUE(std::holds_alternative<std::string>(result)) << text;
    EXPECT_EQ(std::get<std::string>(result), "Invalid connection params shape") << text;
  }
}

// ---- decode_input --------------------------------------------------------------------------------

TEST(DecodeInput, AbsentInput) {
  bool superjson = true;
  auto result = trpc::decode_input(false, value(), &superjson);
  ASSERT_TRUE(std::holds_alternative<trpc::decoded_input>(result));
  EXPECT_FALSE(std::get<trpc::decoded_input>(result).present);
  EXPECT_FALSE(superjson);
}

TEST(DecodeInput, PlainInputTakenAsIs) {
  bool superjson = true;
  const value input = parse_json(R"({"name":"ann","when":"2025-01-02T03:04:05.678Z"})");
  auto result = trpc::decode_input(true, input, &superjson);
  ASSERT_TRUE(std::holds_alternative<trpc::decoded_input>(result));
  const auto& decoded = std::get<trpc::decoded_input>(result);
  EXPECT_TRUE(decoded.present);
  EXPECT_EQ(decoded.value, input);
  EXPECT_FALSE(decoded.value.find("when")->is_date());
  EXPECT_FALSE(superjson);
  // An object with other keys besides json/meta is plain.
  auto other = trpc::decode_input(true, parse_json(R"({"json":1,"x":2})"), &superjson);
  EXPECT_FALSE(superjson);
  EXPECT_EQ(json::to_string(std::get<trpc::decoded_input>(other).value), R"({"json":1,"x":2})");
  // Null plain input is present (and null).
  auto null_input = trpc::decode_input(true, value(), nullptr);
  EXPECT_TRUE(std::get<trpc::decoded_input>(null_input).present);
}

TEST(DecodeInput, SuperjsonEnvelope) {
  bool superjson = false;
  auto result = trpc::decode_input(
      true, parse_json(R"({"json":{"hospitalId":"h"},"meta":{"values":{},"v":1}})"), &superjson);
  EXPECT_TRUE(superjson);
  ASSERT_TRUE(std::holds_alternative<trpc::decoded_input>(result));
  EXPECT_EQ(json::to_string(std::get<trpc::decoded_input>(result).value), R"({"hospitalId":"h"})");

  auto undefined = trpc::decode_input(
      true, parse_json(R"({"json":null,"meta":{"values":["undefined"]}})"), &superjson);
  EXPECT_TRUE(superjson);
  EXPECT_FALSE(std::get<trpc::decoded_input>(undefined).present);

  auto bad = trpc::decode_input(
      true, parse_json(R"({"json":{"x":"1"},"meta":{"values":{"x":["bigint"]}}})"), &superjson);
  EXPECT_TRUE(superjson);
  ASSERT_TRUE(std::holds_alternative<call_error>(bad));
  EXPECT_EQ(std::get<call_error>(bad).code, trpc_code::bad_request);
}

// ---- encoders: exact frames of the captures (A.12) -----------------------------------------------

TEST(Encoders, ExactPlainFrames) {
  EXPECT_EQ(trpc::ws_started(value(2), false), R"({"id":2,"result":{"type":"started"}})");
  EXPECT_EQ(trpc::ws_stopped(value(9), false), R"({"id":9,"result":{"type":"stopped"}})");
  EXPECT_EQ(trpc::ws_error(value(2), false, err(trpc_code::bad_request, "Duplicate id 2"), "ticks",
                           false),
            R"({"id":2,"error":{"message":"Duplicate id 2","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400,"path":"ticks"}}})");
  EXPECT_EQ(trpc::ws_error(value(), false, err(trpc_code::parse_error, "`id` is required"), "",
                           false),
            R"({"id":null,"error":{"message":"`id` is required","code":-32700,"data":{"code":"PARSE_ERROR","httpStatus":400}}})");
  EXPECT_EQ(trpc::ws_error(value(), false, err(trpc_code::parse_error, "Invalid procedure type"),
                           "", false),
            R"({"id":null,"error":{"message":"Invalid procedure type","code":-32700,"data":{"code":"PARSE_ERROR","httpStatus":400}}})");
  EXPECT_EQ(trpc::ws_error(value(1), false,
                           err(trpc_code::not_found, R"(No "subscription"-procedure on path "noInput")"),
                           "noInput", false),
            R"({"id":1,"error":{"message":"No \"subscription\"-procedure on path \"noInput\"","code":-32004,"data":{"code":"NOT_FOUND","httpStatus":404,"path":"noInput"}}})");
  value whoami;
  whoami.set("connectionParams", value()).set("auth", value());
  EXPECT_EQ(trpc::ws_data(value(1), false, whoami, false),
            R"({"id":1,"result":{"type":"data","data":{"connectionParams":null,"auth":null}}})");
  EXPECT_EQ(trpc::ws_reconnect(), R"({"id":null,"method":"reconnect"})");
}

TEST(Encoders, JsonrpcIsEchoedEverywhere) {
  const value id("str-id");
  EXPECT_EQ(trpc::ws_started(id, true), R"({"id":"str-id","jsonrpc":"2.0","result":{"type":"started"}})");
  EXPECT_EQ(trpc::ws_stopped(id, true), R"({"id":"str-id","jsonrpc":"2.0","result":{"type":"stopped"}})");
  EXPECT_EQ(trpc::ws_error(id, true, err(trpc_code::forbidden, "no"), "p", true),
            R"({"id":"str-id","jsonrpc":"2.0","error":{"json":{"message":"no","code":-32003,"data":{"code":"FORBIDDEN","httpStatus":403,"path":"p"}}}})");
  EXPECT_EQ(trpc::ws_data_prefix(id, true),
            R"({"id":"str-id","jsonrpc":"2.0","result":{"type":"data",)");
}

TEST(Encoders, ExactSuperjsonFrames) {
  value greet;
  greet.set("text", "hello ann").set("at", value::date(1735787045678));
  EXPECT_EQ(trpc::ws_data(value(1), false, greet, true),
            R"({"id":1,"result":{"type":"data","data":{"json":{"text":"hello ann","at":"2025-01-02T03:04:05.678Z"},"meta":{"values":{"at":["Date"]},"v":1}}}})");
  EXPECT_EQ(trpc::ws_data(value(5), false, value("ok"), true),
            R"({"id":5,"result":{"type":"data","data":{"json":"ok"}}})");
  EXPECT_EQ(trpc::ws_data(value(5), false, value(), true),
            R"({"id":5,"result":{"type":"data","data":{"json":null}}})");
  EXPECT_EQ(trpc::ws_error(value(8), false, err(trpc_code::unauthorized, "Authentication required"),
                           "secret", true),
            R"({"id":8,"error":{"json":{"message":"Authentication required","code":-32001,"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"secret"}}}})");
  EXPECT_EQ(trpc::ws_error(value(6), false, err(trpc_code::conflict, "Alert is not active"),
                           "healthcare.acknowledgeAlert", true),
            R"({"id":6,"error":{"json":{"message":"Alert is not active","code":-32009,"data":{"code":"CONFLICT","httpStatus":409,"path":"healthcare.acknowledgeAlert"}}}})");
}

TEST(Encoders, SubscriptionEventWithResultId) {
  // docs/api.md "Encoding: plain JSON and superjson": result.id set, the flat event inside,
  // dates annotated.
  value data;
  data.set("acknowledgedBy", "u-nurse-7")
      .set("acknowledgedAt", value::date(1767607390000))
      .set("notes", "On my way")
      .set("urgencyAssessment", "maintain")
      .set("responseAction", "responding")
      .set("estimatedResponseTime", 5)
      .set("delegateTo", value())
      .set("urgencyLevel", 1);
  value event;
  event.set("id", "k3x9q2ab-1043")
      .set("type", "alert.acknowledged")
      .set("alertId", "b5e05c3c-8f1a-4d2e-9c3b-7a6f5e4d3c2b")
      .set("hospitalId", "6f1c2a9e-3b7d-4c55-9a0e-1d2b3c4d5e6f")
      .set("timestamp", value::date(1767607390000))
      .set("data", data);
  std::string frame = trpc::ws_data_prefix(value(1), false);
  frame += "\"id\":";
  json::write_string(frame, "k3x9q2ab-1043");
  frame += ",\"data\":";
  json::write_superjson(frame, event);
  frame += "}}";
  EXPECT_EQ(frame,
            R"({"id":1,"result":{"type":"data","id":"k3x9q2ab-1043","data":{"json":{"id":"k3x9q2ab-1043","type":"alert.acknowledged","alertId":"b5e05c3c-8f1a-4d2e-9c3b-7a6f5e4d3c2b","hospitalId":"6f1c2a9e-3b7d-4c55-9a0e-1d2b3c4d5e6f","timestamp":"2026-01-05T10:03:10.000Z","data":{"acknowledgedBy":"u-nurse-7","acknowledgedAt":"2026-01-05T10:03:10.000Z","notes":"On my way","urgencyAssessment":"maintain","responseAction":"responding","estimatedResponseTime":5,"delegateTo":null,"urgencyLevel":1}},"meta":{"values":{"timestamp":["Date"],"data.acknowledgedAt":["Date"]},"v":1}}}})");
  // The prefix is a valid start of the same frame as ws_data without a result id.
  const std::string plain = trpc::ws_data(value(1), false, value("x"), false);
  EXPECT_EQ(plain, trpc::ws_data_prefix(value(1), false) + R"("data":"x"}})");
}

TEST(Encoders, Http) {
  value greet;
  greet.set("text", "hello nb").set("at", value::date(1735787045678));
  EXPECT_EQ(trpc::http_result(greet, true),
            R"({"result":{"data":{"json":{"text":"hello nb","at":"2025-01-02T03:04:05.678Z"},"meta":{"values":{"at":["Date"]},"v":1}}}})");
  EXPECT_EQ(trpc::http_result(greet, false),
            R"({"result":{"data":{"text":"hello nb","at":"2025-01-02T03:04:05.678Z"}}})");
  EXPECT_EQ(trpc::http_result(value("ok"), false), R"({"result":{"data":"ok"}})");
  EXPECT_EQ(trpc::http_result(value("ok"), true), R"({"result":{"data":{"json":"ok"}}})");
  EXPECT_EQ(trpc::http_error(err(trpc_code::unauthorized, "Authentication required"), "secret", true),
            R"({"error":{"json":{"message":"Authentication required","code":-32001,"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"secret"}}}})");
  EXPECT_EQ(trpc::http_error(err(trpc_code::unsupported_media_type,
                                 "Unsupported content-type \"text/plain"),
                             "", false),
            R"({"error":{"message":"Unsupported content-type \"text/plain","code":-32015,"data":{"code":"UNSUPPORTED_MEDIA_TYPE","httpStatus":415}}})");
  EXPECT_EQ(trpc::http_error(err(trpc_code::service_unavailable, "busy"), "", false),
            R"({"error":{"message":"busy","code":-32603,"data":{"code":"SERVICE_UNAVAILABLE","httpStatus":503}}})");
}

TEST(Encoders, ReproduceEveryCapturedServerFrame) {
  // 11.25.2 captures: superjson 2.2.6 writes "v":1 like Vigil does. Tracked frames (result.id
  // after data) are tRPC's own shape, which Vigil does not send.
  size_t reproduced = 0;
  for (const char* file : {"capture-v11.25.2-plain.txt", "capture-v11.25.2-superjson.txt",
                           "capture-v11.25.2-appshaped.txt"}) {
    for (const std::string& text : capture_frames(file, "S->C")) {
      const value frame = parse_json(text);
      std::optional<std::string> ours = reencode_ws(frame);
      if (!ours) continue;
      EXPECT_EQ(*ours, text) << file;
      ++reproduced;
    }
  }
  EXPECT_GT(reproduced, 80u);
}

TEST(Encoders, ReproduceEveryCapturedHttpBody) {
  size_t reproduced = 0;
  for (const char* file : {"capture-v11.25.2-plain.txt", "capture-v11.25.2-superjson.txt"}) {
    for (const std::string& text : http_bodies(file)) {
      std::optional<value> body = json::parse(text, nullptr);
      if (!body) continue; // JSONL stream chunks
      if (body->is_object()) {
        std::optional<std::string> ours = reencode_http_item(*body);
        if (!ours) continue;
        EXPECT_EQ(*ours, text) << file;
        ++reproduced;
      } else if (body->is_array() && body->size() > 0 && body->as_array()[0].is_object()) {
        std::string ours = "[";
        bool complete = true;
        for (const value& item : body->as_array()) {
          std::optional<std::string> encoded = reencode_http_item(item);
          if (!encoded) complete = false;
          if (ours.size() > 1) ours += ',';
          ours += encoded.value_or("");
        }
        ours += ']';
        if (!complete) continue;
        EXPECT_EQ(ours, text) << file;
        ++reproduced;
      }
    }
  }
  EXPECT_GT(reproduced, 20u);
}
