#include "transport/lws_request.hpp"

#include <algorithm>
#include <cstring>


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
