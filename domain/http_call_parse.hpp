#pragma once
// Parsing a tRPC HTTP request on /api/trpc/<path> into its calls (docs/api.md "HTTP"): the
// request-level checks (streaming asked for, Content-Type, malformed JSON, batch input shape)
// and, per call, its path, its input (GET ?input= or the POST body; in batch mode the member
// "<index>" of the input object) and its reply encoding. Pure: the http_call actor runs the
// calls through the pipeline (domain/pipeline.hpp) and writes the response.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/config.hpp"
#include "domain/errors.hpp"
#include "domain/json.hpp"
#include "domain/trpc.hpp"

namespace vigil {

/// The parts of an HTTP request the parser reads (views into the request, which outlives them).
struct http_call_view {
  bool post = false;
  std::string_view path;          // after /api/trpc/, URL-decoded; comma-separated in batch mode
  bool batch = false;             // ?batch=1
  bool has_input = false;         // GET: ?input= was present
  std::string_view input;         // GET: ?input= (URL-decoded)
  std::string_view body;          // POST body
  std::string_view content_type;  // POST Content-Type header (empty when absent)
  std::string_view trpc_accept;   // trpc-accept header (empty when absent)
};

/// One call of an HTTP request.
struct http_item {
  std::string path;
  bool has_input = false;
  json::value input;              // raw (possibly a superjson envelope)
  bool superjson = false;         // reply encoding (replies_superjson)
};

/// The calls of a request that passed the request-level checks.
struct http_calls {
  trpc::rpc_method method = trpc::rpc_method::query; // GET: query, POST: mutation
  std::vector<http_item> items;   // one per path, in order
};

/// A request refused as a whole: the complete response.
struct http_refusal {
  int status = 400;
  std::string body;
  /// The error code to count in the rejected-calls metrics; nullopt for the batch-shaped 400s,
  /// which are not counted.
  std::optional<trpc_code> counted;
};

/// The paths of a request: `path` split at commas in batch mode (empty parts kept), `path`
/// itself otherwise.
std::vector<std::string> split_paths(std::string_view path, bool batch);

/// True when a POST Content-Type is acceptable: absent, or every comma-separated part is
/// application/json (any case, parameters allowed).
bool acceptable_content_type(std::string_view value);

/// Parses a request, checking in this order: trpc-accept asking for application/jsonl (400
/// BAD_REQUEST on the first path), a POST Content-Type other than JSON (415, no path), malformed
/// JSON input (400 with the parser's message; in batch mode an array with the error once per
/// path), a batch input that is not an object (400, an array with `"input" needs to be an object
/// when doing a batch call` per path). A POST body of only whitespace is no input. Each item's
/// encoding follows `transformer` (see replies_superjson in domain/pipeline.hpp).
std::variant<http_calls, http_refusal> parse_http_call(const http_call_view& req,
                                                       transformer_mode transformer);

} // namespace vigil
