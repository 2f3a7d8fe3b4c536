// The libwebsockets client plumbing of vigilctl. See lws_client.hpp.

#include "tools/lws_client.hpp"

#include <cstdlib>
#include <cstring>

namespace vigil::ctl::lwsc {

lws_context* make_context(const context_options& opts, std::string* error) {
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = opts.protocols;
  info.gid = -1;
  info.uid = -1;
  info.user = opts.user;
  info.fd_limit_per_thread = opts.fd_limit;
  info.pt_serv_buf_size = opts.service_buffer;
  info.timeout_secs = opts.timeout_secs;
  if (opts.tls) {
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    // Without a CA file lws uses OpenSSL's default verify paths (the system's trusted CAs).
    const char* ca_file = std::getenv("VIGIL_CA_FILE");
    if (ca_file != nullptr && *ca_file != '\0') info.client_ssl_ca_filepath = ca_file;
  }
  lws_context* ctx = lws_create_context(&info);
  if (ctx == nullptr && error != nullptr) *error = "cannot create the libwebsockets client context";
  return ctx;
}

std::string host_header(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

lws* connect(const connect_options& opts) {
  const std::string host = host_header(opts.address, opts.port);
  lws_client_connect_info ci;
  std::memset(&ci, 0, sizeof ci);
  ci.context = opts.context;
  ci.address = opts.address;
  ci.port = opts.port;
  ci.host = host.c_str();
  ci.origin = nullptr;
  ci.protocol = nullptr;  // vigild takes no subprotocol
  ci.local_protocol_name = opts.local_protocol;
  ci.userdata = opts.userdata;
  ci.pwsi = opts.pwsi;
  ci.iface = opts.iface;
  static const lws_retry_bo_t no_validity_checks = {};
  if (opts.no_validity_checks) ci.retry_and_idle_policy = &no_validity_checks;
  // The certificate is verified: its chain, validity and the host name (or IP) of the URL.
  if (opts.tls) ci.ssl_connection = LCCSCF_USE_SSL;
  if (opts.raw) {
    ci.method = "RAW";
    ci.path = "";
  } else {
    ci.path = opts.path;
  }
  return lws_client_connect_via_info(&ci);
}

int peer_close_code(const void* in, size_t len) {
  const auto* bytes = static_cast<const unsigned char*>(in);
  return bytes != nullptr && len >= 2 ? (bytes[0] << 8) | bytes[1] : 1005;
}

bool write_front(lws* wsi, std::deque<std::string>& outbox, std::vector<unsigned char>& buffer,
                 lws_write_protocol mode) {
  if (outbox.empty()) return true;
  const std::string& frame = outbox.front();
  buffer.resize(LWS_PRE + frame.size());
  std::memcpy(buffer.data() + LWS_PRE, frame.data(), frame.size());
  if (lws_write(wsi, buffer.data() + LWS_PRE, frame.size(), mode) < static_cast<int>(frame.size()))
    return false;
  outbox.pop_front();
  return true;
}

namespace {

void on_deadline(lws_sorted_usec_list_t* sul) {
  auto* timer = reinterpret_cast<deadline_timer*>(sul);
  timer->fired = true;
  lws_cancel_service(timer->context);  // wakes the poll() of the current or next lws_service()
}

} // namespace

void deadline_timer::arm(lws_context* ctx, int64_t timeout_ms) {
  context = ctx;
  fired = false;
  lws_sul_schedule(ctx, 0, &sul, on_deadline, static_cast<lws_usec_t>(timeout_ms) * LWS_US_PER_MS);
}

} // namespace vigil::ctl::lwsc
