// Writing an HTTP response: status and headers (CORS included), then the body in chunks.

#include "transport/server_impl.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace vigil {

using namespace net;

int server::impl::on_http_writeable(lws* wsi, session* s) {
  if (s == nullptr)
    return 0;
  auto& h = s->http();
  if (!h.have_response) {
    http_response r;
    if (!out->take_response(s->id, r))
      return 0;
    h.response = std::move(r);
    h.have_response = true;
    h.written = 0;
    h.headers_sent = false;
  }
  auto& r = h.response;
  // A client that takes nothing of its reply for http.write-timeout is dropped, with the
  // reply: lws reports the socket writable only once the previous write left its buffers,
  // so every call here is progress and restarts the clock. After the last write, lws's own
  // keep-alive timeout replaces it.
  lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
                  static_cast<int>((cfg.http_write_timeout_ms + 999) / 1000));
  if (!h.headers_sent) {
    std::vector<unsigned char> buf(LWS_PRE + 4096);
    unsigned char* start = buf.data() + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = buf.data() + buf.size();
    const char* ctype = r.content_type.empty() ? nullptr : r.content_type.c_str();
    if (lws_add_http_common_headers(wsi, static_cast<unsigned>(r.status), ctype,
                                    r.body.size(), &p, end))
      return -1;
    auto add = [&](const std::string& name, const std::string& value) {
      std::string n = name + ":";
      for (auto& c : n)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(n.c_str()),
                                         reinterpret_cast<const unsigned char*>(value.data()),
                                         static_cast<int>(value.size()), &p, end);
    };
    for (auto& [k, v] : r.headers)
      if (add(k, v))
        return -1;
    if (!h.cors_origin.empty()) {
      if (add("Access-Control-Allow-Origin", h.cors_origin)
          || add("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
          || add("Access-Control-Allow-Headers", "Content-Type, Authorization")
          || add("Vary", "Origin"))
        return -1;
    }
    if (lws_finalize_write_http_header(wsi, start, &p, end))
      return -1;
    h.headers_sent = true;
    if (r.body.empty() || h.head) {
      h.have_response = false;
      mark_request_end(wsi, s);
      return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
  }
  constexpr size_t chunk = 32 * 1024;
  size_t n = std::min(chunk, r.body.size() - h.written);
  bool last = h.written + n == r.body.size();
  wbuf.resize(LWS_PRE + n);
  std::memcpy(wbuf.data() + LWS_PRE, r.body.data() + h.written, n);
  if (lws_write(wsi, reinterpret_cast<unsigned char*>(wbuf.data() + LWS_PRE), n,
                last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0) // short: lws keeps the rest
    return -1;
  h.written += n;
  if (!last) {
    lws_callback_on_writable(wsi);
    return 0;
  }
  h.have_response = false;
  mark_request_end(wsi, s);
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

} // namespace vigil
