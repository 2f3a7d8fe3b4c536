#include "transport/lws_request.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>


namespace vigil {
namespace net {

std::string header(lws* wsi, lws_token_indexes token) {
  int n = lws_hdr_total_length(wsi, token);
  if (n <= 0)
    return {};
  std::string out(static_cast<size_t>(n) + 1, '\0');
  int got = lws_hdr_copy(wsi, out.data(), n + 1, token);
  if (got < 0)
    return {};
  out.resize(static_cast<size_t>(got));
  return out;
}

std::string custom_header(lws* wsi, const char* name) {
  int nlen = static_cast<int>(std::strlen(name));
  int n = lws_hdr_custom_length(wsi, name, nlen);
  if (n <= 0)
    return {};
  std::string out(static_cast<size_t>(n) + 1, '\0');
  int got = lws_hdr_custom_copy(wsi, out.data(), n + 1, name, nlen);
  if (got < 0)
    return {};
  out.resize(static_cast<size_t>(got));
  return out;
}

std::vector<std::string> header_lines(lws* wsi, lws_token_indexes token) {
  std::vector<std::string> lines;
  for (int i = 0;; ++i) {
    int n = lws_hdr_fragment_length(wsi, token, i);
    std::string v(static_cast<size_t>(std::max(n, 0)) + 1, '\0');
    int got = lws_hdr_copy_fragment(wsi, v.data(), n + 1, token, i);
    if (got < 0)
      break;
    v.resize(static_cast<size_t>(got));
    lines.push_back(std::move(v));
  }
  return lines;
}

namespace {

/// The tokens lws stores the method and URL of the request line under.
constexpr lws_token_indexes method_tokens[] = {
    WSI_TOKEN_GET_URI,   WSI_TOKEN_POST_URI,   WSI_TOKEN_OPTIONS_URI, WSI_TOKEN_PUT_URI,
    WSI_TOKEN_PATCH_URI, WSI_TOKEN_DELETE_URI, WSI_TOKEN_HEAD_URI,    WSI_TOKEN_CONNECT};

bool is_method_token(int token) {
  return std::find(std::begin(method_tokens), std::end(method_tokens), token)
         != std::end(method_tokens);
}

/// Length of a token's name as lws spells it ("authorization:", "get "), without the space.
size_t token_name_length(lws_token_indexes token) {
  auto* name = reinterpret_cast<const char*>(lws_token_to_string(token));
  if (name == nullptr)
    return 0;
  size_t n = std::strlen(name);
  return n > 0 && name[n - 1] == ' ' ? n - 1 : n;
}

/// The number of lines (fragments) a token was sent in, given the total lws_hdr_total_length
/// reports for it: the fragments' lengths plus one separator between each two.
int fragment_count(lws* wsi, lws_token_indexes token, int total) {
  int count = 0;
  for (int seen = -1; seen < total; ++count)
    seen += lws_hdr_fragment_length(wsi, token, count) + 1;
  return count;
}

} // namespace

size_t head_size(lws* wsi) {
  size_t size = 0;
  for (auto token : method_tokens) {
    int uri = lws_hdr_total_length(wsi, token);
    if (uri > 0)
      size += token_name_length(token) + 1 + static_cast<size_t>(uri); // "GET /path"
  }
  if (int args = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS); args > 0)
    size += 1 + static_cast<size_t>(args);                              // "?a=1&b=2"
  size += 1 + static_cast<size_t>(std::max(0, lws_hdr_total_length(wsi, WSI_TOKEN_HTTP))) + 2;
  for (int t = 0; t < _WSI_TOKEN_CLIENT_SENT_PROTOCOLS; ++t) {
    auto token = static_cast<lws_token_indexes>(t);
    if (is_method_token(t) || token == WSI_TOKEN_HTTP_URI_ARGS || token == WSI_TOKEN_HTTP
        || token == WSI_TOKEN_CHALLENGE)
      continue;
    int total = lws_hdr_total_length(wsi, token);
    if (total <= 0)
      continue;
    int lines = fragment_count(wsi, token, total);
    // Per line: name, ": ", value, CRLF; the values add up to total less the separators.
    size += static_cast<size_t>(lines) * (token_name_length(token) + 3)
            + static_cast<size_t>(total - (lines - 1));
  }
  return size;
}

bool url_too_long(lws* wsi) {
  for (auto token : {WSI_TOKEN_GET_URI, WSI_TOKEN_POST_URI, WSI_TOKEN_OPTIONS_URI})
    if (lws_hdr_total_length(wsi, token) >= http_url_part_limit)
      return true;
  for (int i = 0;; ++i) {
    int n = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n <= 0)
      return false;
    if (n >= http_url_part_limit)
      return true;
  }
}

std::vector<std::string> url_args(lws* wsi) {
  std::vector<std::string> args;
  char buf[65536];
  for (int i = 0;; ++i) {
    int n = lws_hdr_copy_fragment(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0)
      break;
    args.emplace_back(buf, static_cast<size_t>(n));
  }
  return args;
}

} // namespace net
} // namespace vigil
