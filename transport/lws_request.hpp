#pragma once
// Reading an HTTP request (or WebSocket upgrade) from lws: header values and query arguments.

#include <libwebsockets.h>

#include <string>
#include <vector>

namespace vigil {

/// The request line and headers of an HTTP request, as lws stores them (the URL, header values
/// and the names of headers lws does not know), may take this much (api.md §6). lws keeps them
/// in a buffer of exactly this size; a request that does not fit is dropped by lws itself.
constexpr int http_head_limit = 16 * 1024;
/// The URL path and each query argument must be shorter than this; longer ones get 414. lws
/// truncates such a part at this length instead of failing the whole request, so a long URL
/// (a tRPC GET carries its input in the query) is answered instead of silently dropped.
constexpr int http_url_part_limit = 8 * 1024;

namespace net {

/// The value of a header lws knows (empty when absent).
std::string header(lws* wsi, lws_token_indexes token);
/// The value of a header lws does not know; `name` includes the colon ("trpc-accept:").
std::string custom_header(lws* wsi, const char* name);
/// Every value of a header that may appear more than once (lws keeps each line's value as a
/// fragment of the same token).
std::vector<std::string> header_lines(lws* wsi, lws_token_indexes token);
/// True when the URL path or one of its query arguments reached http_url_part_limit (lws then
/// kept only that much of it).
bool url_too_long(lws* wsi);
/// Query arguments of the request: raw `name=value` fragments (lws URL-decodes them).
std::vector<std::string> url_args(lws* wsi);

} // namespace net

} // namespace vigil
