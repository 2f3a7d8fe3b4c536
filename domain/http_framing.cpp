#include "domain/http_framing.hpp"

#include <string_view>

namespace vigil {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// 1 to 19 digits: at most 9999999999999999999 fits no int64, so 19 digits are checked by
/// value (at most INT64_MAX); anything else, a sign included, is not a length.
bool valid_length(std::string_view v) {
  if (v.empty() || v.size() > 19)
    return false;
  for (char c : v)
    if (c < '0' || c > '9')
      return false;
  return v.size() < 19 || v <= std::string_view{"9223372036854775807"};
}

} // namespace

std::optional<framing_error> check_framing(bool post, const std::vector<std::string>& content_length,
                                           const std::optional<std::string>& transfer_encoding) {
  if (transfer_encoding && !content_length.empty())
    return framing_error{400, "Content-Length and Transfer-Encoding together are not allowed"};
  if (transfer_encoding)
    return framing_error{411, "Transfer-Encoding request bodies (chunked) are not supported: "
                              "send the body with Content-Length"};
  std::string_view first;
  for (const auto& line : content_length) {
    // One header line may itself be a list ("5, 5"), as a proxy joining duplicates makes it.
    std::string_view rest = line;
    while (true) {
      auto comma = rest.find(',');
      auto value = trim(rest.substr(0, comma));
      if (!valid_length(value))
        return framing_error{400, "Invalid Content-Length"};
      if (first.empty())
        first = value;
      else if (value != first)
        return framing_error{400, "Conflicting Content-Length values"};
      if (comma == std::string_view::npos)
        break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (post && content_length.empty())
    return framing_error{411, "Content-Length required"};
  return std::nullopt;
}

} // namespace vigil
