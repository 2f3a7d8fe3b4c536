// Event ids `<epoch>-<seq>`. See event_id.hpp.

#include "domain/event_id.hpp"

namespace vigil {

namespace {

constexpr size_t max_seq_digits = 19;  // 19 decimal digits always fit in uint64_t

bool is_epoch_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/// Checks the shape of `text` and returns its seq, without copying the epoch.
std::optional<uint64_t> checked_seq(std::string_view text) {
  if (text.size() < event_epoch_length + 2 || text[event_epoch_length] != '-') return std::nullopt;
  if (!is_valid_epoch(text.substr(0, event_epoch_length))) return std::nullopt;
  const std::string_view digits = text.substr(event_epoch_length + 1);
  if (digits.size() > max_seq_digits) return std::nullopt;
  uint64_t seq = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  return seq;
}

} // namespace

bool is_valid_epoch(std::string_view epoch) {
  if (epoch.size() != event_epoch_length) return false;
  for (char c : epoch)
    if (!is_epoch_char(c)) return false;
  return true;
}

std::optional<event_id> parse_event_id(std::string_view text) {
  auto seq = checked_seq(text);
  if (!seq) return std::nullopt;
  return event_id{std::string(text.substr(0, event_epoch_length)), *seq};
}

std::optional<uint64_t> event_id_seq(std::string_view text, std::string_view epoch) {
  auto seq = checked_seq(text);
  if (!seq || text.substr(0, event_epoch_length) != epoch) return std::nullopt;
  return seq;
}

std::string format_event_id(std::string_view epoch, uint64_t seq) {
  std::string out;
  out.reserve(epoch.size() + 21);
  out.append(epoch);
  out += '-';
  out += std::to_string(seq);
  return out;
}

} // namespace vigil
