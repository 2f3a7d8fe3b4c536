// libFuzzer harness: the tRPC WebSocket frame parser and connectionParams parser (domain/trpc.*),
// then what a connection does with each parsed request before it reaches an actor: decode the
// input (superjson or plain), look up the procedure, validate the input, and encode a reply
// echoing the request id. Invariant: nothing crashes, and every encoded reply is valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "domain/json.hpp"
#include "domain/procedures.hpp"
#include "domain/trpc.hpp"

using namespace vigil;

namespace {
void must_parse(const std::string& text) {
  std::string error;
  if (!json::parse(text, &error))
    std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  (void)trpc::parse_connection_params(text);
  auto frame = trpc::parse_ws_frame(text);
  if (auto* err = std::get_if<std::string>(&frame)) {
    must_parse(trpc::ws_error(nullptr, false, call_error{trpc_code::parse_error, *err}, "", false));
    return 0;
  }
  for (auto& req : std::get<trpc::ws_frame>(frame).requests) {
    bool superjson = false;
    auto decoded = trpc::decode_input(req.has_input, req.input, &superjson);
    if (auto* e = std::get_if<call_error>(&decoded)) {
      must_parse(trpc::ws_error(req.id, req.jsonrpc, *e, req.path, superjson));
      continue;
    }
    auto& in = std::get<trpc::decoded_input>(decoded);
    const procedure_info* info = find_procedure(req.path); // nullptr for subscription.stop too
    if (info == nullptr)
      continue;
    auto valid = validate_input(info->id, in.present ? &in.value : nullptr);
    if (auto* e = std::get_if<call_error>(&valid)) {
      must_parse(trpc::ws_error(req.id, req.jsonrpc, *e, req.path, superjson));
      continue;
    }
    must_parse(trpc::ws_data(req.id, req.jsonrpc, std::get<json::value>(valid), superjson));
  }
  return 0;
}
