#pragma once
// Reading an HTTP request (or WebSocket upgrade) from lws: header values and query arguments.

#include <libwebsockets.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vigil {

/// The request line and header lines of an HTTP request or WebSocket upgrade may take this
/// much (api.md "Limits"), as measured by head_size(); a longer head gets 431.
constexpr int http_head_limit = 16 * 1024;
/// lws's buffer for a request head (one per header-pool slot, allocated while a head is read):
/// twice the limit, so that heads somewhat over it reach vigild and get their 431. Each header
/// lws knows is cut at http_head_limit + 1 bytes (still over the limit), so a single huge header
/// cannot fill it; what fills it anyway (headers lws does not know, very many lines) makes lws
/// close the connection itself, without a response (operations.md "Hostile input").
constexpr int http_head_buffer = 2 * http_head_limit;
/// The most lws 4.1 reads from a socket at once (pt_serv_buf_size; request heads and bodies).
constexpr uint64_t head_read_chunk = 1024;
/// Bytes lws may have read beyond a request head's end by the time vigild sees the head
/// (server::impl::head_received): the rest of the read that held the head's end; after a
/// pipelined request, whose head lws already holds, one more read (lws reads a piece from the
/// socket in the same round in which it parses a held one).
constexpr uint64_t head_overread_limit = 2 * head_read_chunk - 1;
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
/// The size of the request head as sent, reconstructed from what lws kept: the request line
/// (method, URL with its query, version, CRLF) plus `name: value` CRLF for every header line lws
/// knows. Header lines lws does not know are not visible (lws 4.1 cannot list them); they count
/// only towards http_head_buffer.
size_t head_size(lws* wsi);
/// True when the URL path or one of its query arguments reached http_url_part_limit (lws then
/// kept only that much of it).
bool url_too_long(lws* wsi);
/// Query arguments of the request: raw `name=value` fragments (lws URL-decodes them).
std::vector<std::string> url_args(lws* wsi);

} // namespace net

} // namespace vigil
