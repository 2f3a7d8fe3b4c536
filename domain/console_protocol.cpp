#include "domain/console_protocol.hpp"

#include "domain/json.hpp"

namespace vigil::console_protocol {

std::string encode_request(const std::vector<std::string>& words) {
  auto v = json::value::make_array();
  for (auto& w : words)
    v.push(w);
  return json::to_string(v);
}

std::optional<std::vector<std::string>> decode_request(std::string_view line, std::string* error) {
  std::string parse_error;
  auto v = json::parse(line, &parse_error);
  if (!v || !v->is_array() || v->size() == 0) {
    *error = "bad request: expected a JSON array of strings, command first";
    return std::nullopt;
  }
  std::vector<std::string> words;
  for (auto& w : v->as_array()) {
    if (!w.is_string()) {
      *error = "bad request: every element must be a string";
      return std::nullopt;
    }
    words.push_back(w.as_string());
  }
  return words;
}

std::string frame_reply(const std::string& json) {
  return std::to_string(json.size()) + "\n" + json;
}

std::optional<size_t> parse_reply_length(std::string_view line) {
  if (line.empty() || line.size() > 10)
    return std::nullopt;
  size_t n = 0;
  for (char c : line) {
    if (c < '0' || c > '9')
      return std::nullopt;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  if (n > reply_max)
    return std::nullopt;
  return n;
}

} // namespace vigil::console_protocol
