#pragma once
// tRPC v11 wire codec: parsing WebSocket frames and connection params, decoding superjson
// inputs, and encoding replies, subscription frames and errors (plain or superjson).
// See docs/api.md "WebSocket", "HTTP" and "Encoding: plain JSON and superjson"; the captured
// frames in tests/data/trpc-frames.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/errors.hpp"
#include "domain/json.hpp"

namespace vigil::trpc {

enum class rpc_method { query, mutation, subscription, subscription_stop };

/// "query", "mutation", "subscription", "subscription.stop".
const char* method_name(rpc_method m);

/// One request of a WebSocket frame.
struct ws_request {
  json::value id;              // number or string, echoed verbatim
  bool jsonrpc = false;        // carried "jsonrpc":"2.0" (echo it)
  rpc_method method = rpc_method::query;
  std::string path;            // empty for subscription.stop
  bool has_input = false;      // false when "input" is absent
  json::value input;           // raw input (possibly a superjson envelope)
  std::optional<std::string> last_event_id; // params.lastEventId
};

/// A parsed text frame: one request, or an array of them.
struct ws_frame {
  std::vector<ws_request> requests;
  bool batch = false;
};

/// Parses a request frame (object or array of objects). On failure returns the PARSE_ERROR
/// message: the JSON parser's message for malformed JSON, "Empty batch", "Not an object",
/// "`id` is required" (id null or missing), "Invalid request id" (not a number or string),
/// "Must be JSONRPC 2.0", "Invalid procedure type", "Invalid params" (not an object),
/// "Invalid params: `path` must be a string", "Invalid params: `lastEventId` must be a string".
/// A null lastEventId counts as absent; `subscription.stop` ignores params. Any invalid element
/// invalidates the whole frame.
std::variant<ws_frame, std::string> parse_ws_frame(std::string_view text);

/// Keys of the connectionParams frame that Vigil reads.
struct connection_params {
  std::optional<std::string> token;
  std::optional<std::string> authorization;
};

/// Parses `{"method":"connectionParams","data":null|{<string values>}}`. On failure returns the
/// PARSE_ERROR message: "Malformed TRPCConnectionParamsMessage" for non-JSON or a wrong envelope,
/// "Invalid connection params shape" for a bad `data`.
std::variant<connection_params, std::string> parse_connection_params(std::string_view text);

/// True when `input` is an object with a "json" key and no keys other than "json" and "meta".
bool is_superjson_envelope(const json::value& input);

/// The most `meta.values` entries an input may carry. A legitimate input annotates a few dates
/// (an `undefined` per optional field left out); 10,000 is far above that and keeps the work
/// one request can ask for small.
constexpr size_t max_superjson_annotations = 10000;

/// Result of decoding an input.
struct decoded_input {
  bool present = false;        // false: no input at all (absent, or superjson root `undefined`)
  json::value value;           // the input with `undefined` keys removed; dates flagged
};

/// Applies superjson `meta.values` to the envelope's `json`: ["undefined"] removes the key (at the
/// root: no input; an array element becomes null), ["Date"] flags the string as a date; any other
/// annotation, or a path that does not resolve, is a BAD_REQUEST naming the path ("Invalid input:
/// <path>: Unsupported superjson type \"<t>\"", "…: Invalid date", "…: Invalid superjson path";
/// the root is named `input`). `meta.referentialEqualities` and `meta.v` are ignored.
/// More than `max_annotations` entries in `meta.values` are a BAD_REQUEST ("Invalid input: input:
/// Too many superjson annotations (more than <n>)") before any is applied. Time and memory are
/// linear in the size of the envelope.
std::variant<decoded_input, call_error>
decode_superjson(const json::value& envelope, size_t max_annotations = max_superjson_annotations);

/// Decodes a request input: a superjson envelope through decode_superjson, anything else taken
/// as is. `superjson` receives whether the envelope form was used. `has_input` false means no input.
std::variant<decoded_input, call_error> decode_input(bool has_input, const json::value& input,
                                                     bool* superjson);

// ---- WebSocket encoders. `id` is the request id (number, string or null). -----------------------

/// `{"id":<id>[,"jsonrpc":"2.0"],"result":{"type":"data","data":<data>}}`.
std::string ws_data(const json::value& id, bool jsonrpc, const json::value& data, bool superjson);
/// The same with data already encoded: its plain JSON and superjson meta ("" without dates).
std::string ws_data_text(const json::value& id, bool jsonrpc, std::string_view plain,
                         std::string_view meta, bool superjson);
/// `{"id":<id>[,"jsonrpc":"2.0"],"result":{"type":"started"}}`.
std::string ws_started(const json::value& id, bool jsonrpc);
/// `{"id":<id>[,"jsonrpc":"2.0"],"result":{"type":"stopped"}}`.
std::string ws_stopped(const json::value& id, bool jsonrpc);
/// `{"id":<id>[,"jsonrpc":"2.0"],"error":<shape or {"json":shape}>}`; `path` left out when empty.
std::string ws_error(const json::value& id, bool jsonrpc, const call_error& e, std::string_view path,
                     bool superjson);
/// The part of a subscription data frame before the event body:
/// `{"id":<id>[,"jsonrpc":"2.0"],"result":{"type":"data",` — append `"id":"<eventId>","data":<body>}}`
/// or `"data":<body>}}`.
std::string ws_data_prefix(const json::value& id, bool jsonrpc);
/// `{"id":null,"method":"reconnect"}`.
std::string ws_reconnect();

// ---- HTTP encoders ------------------------------------------------------------------------------

/// `{"result":{"data":<data>}}` (superjson-wrapped when asked).
std::string http_result(const json::value& data, bool superjson);
/// The same with data already encoded (as ws_data_text).
std::string http_result_text(std::string_view plain, std::string_view meta, bool superjson);
/// `{"error":<shape or {"json":shape}>}`.
std::string http_error(const call_error& e, std::string_view path, bool superjson);

} // namespace vigil::trpc
