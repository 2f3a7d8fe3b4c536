// libFuzzer harness: HTTP request framing checks (domain/http_framing.*) and the Authorization
// header reader (bearer_token). The input is split into lines: the first byte picks GET/POST and
// whether a Transfer-Encoding is present; each line is a Content-Length value (the first one the
// Transfer-Encoding value when present). Invariant: nothing crashes; a refusal carries status
// 400 or 411 and a message.
//
// URL decoding and query arguments are not here: they live inside transport/server.cpp (and lws
// URL-decodes query arguments itself), not as a pure function in domain/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/auth.hpp"
#include "domain/http_framing.hpp"

using namespace vigil;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  const bool post = data[0] & 1;
  const bool with_te = data[0] & 2;
  std::string_view text{reinterpret_cast<const char*>(data) + 1, size - 1};
  (void)bearer_token(text);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos)
      nl = text.size();
    lines.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  std::optional<std::string> te;
  if (with_te && !lines.empty()) {
    te = lines.front();
    lines.erase(lines.begin());
  }
  auto refused = check_framing(post, lines, te);
  if (refused && ((refused->status != 400 && refused->status != 411) || refused->message.empty()))
    std::abort();
  return 0;
}
