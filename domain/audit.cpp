#include "domain/audit.hpp"

#include <algorithm>

#include "domain/sha256.hpp"
#include "domain/time.hpp"

namespace vigil {

const std::string audit_genesis_hash(64, '0');

std::string audit_outcome(trpc_code code) { return code_name(code); }

namespace {

void field(std::string& out, std::string_view value) {
  out += std::to_string(value.size());
  out += ':';
  out += value;
  out += ';';
}

json::value text_or_null(const std::string& s) {
  return s.empty() ? json::value{} : json::value{s};
}

std::string range(uint64_t from, uint64_t to) {
  return from == to ? "record " + std::to_string(from)
                    : "records " + std::to_string(from) + ".." + std::to_string(to);
}

} // namespace

std::string audit_canonical(const audit_record& r) {
  std::string out = "vigil-audit-v1;";
  out.reserve(256);
  field(out, std::to_string(r.seq));
  field(out, std::to_string(r.ts));
  field(out, r.user_id);
  field(out, r.role);
  field(out, r.hospital_id);
  field(out, r.alert_id);
  field(out, r.action);
  field(out, r.outcome);
  field(out, std::to_string(r.conn_id));
  field(out, r.remote);
  field(out, r.prev_hash);
  return out;
}

std::string audit_hash(const audit_record& r) { return sha256_hex(audit_canonical(r)); }

void audit_seal(audit_record& r, const std::string& previous) {
  r.prev_hash = previous;
  r.hash = audit_hash(r);
}

json::value to_json(const audit_record& r) {
  auto v = json::value::make_object();
  v.set("seq", static_cast<int64_t>(r.seq));
  v.set("time", format_iso(r.ts));
  v.set("userId", text_or_null(r.user_id));
  v.set("role", text_or_null(r.role));
  v.set("hospitalId", text_or_null(r.hospital_id));
  v.set("alertId", text_or_null(r.alert_id));
  v.set("action", r.action);
  v.set("outcome", r.outcome);
  v.set("connectionId", static_cast<int64_t>(r.conn_id));
  v.set("remoteAddress", text_or_null(r.remote));
  v.set("prevHash", r.prev_hash);
  v.set("hash", r.hash);
  return v;
}

std::optional<audit_record> audit_from_json(const json::value& v) {
  audit_record r;
  bool ok = v.is_object();
  auto text = [&](const char* key, std::string& out, bool nullable) {
    auto* f = ok ? v.find(key) : nullptr;
    if (f != nullptr && f->is_string())
      out = f->as_string();
    else if (!(nullable && f != nullptr && f->is_null()))
      ok = false;
  };
  auto number = [&](const char* key) -> uint64_t {
    auto* f = ok ? v.find(key) : nullptr;
    if (f == nullptr || !f->is_int() || f->as_int() < 0) {
      ok = false;
      return 0;
    }
    return static_cast<uint64_t>(f->as_int());
  };
  r.seq = number("seq");
  r.conn_id = number("connectionId");
  std::string time;
  text("time", time, false);
  text("userId", r.user_id, true);
  text("role", r.role, true);
  text("hospitalId", r.hospital_id, true);
  text("alertId", r.alert_id, true);
  text("action", r.action, false);
  text("outcome", r.outcome, false);
  text("remoteAddress", r.remote, true);
  text("prevHash", r.prev_hash, false);
  text("hash", r.hash, false);
  auto ts = ok ? parse_iso(time) : std::nullopt;
  if (!ts)
    return std::nullopt;
  r.ts = *ts;
  return r;
}

json::value audit_log_reply(const std::vector<audit_record>& newest_first, size_t limit) {
  auto records = json::value::make_array();
  size_t n = std::min(limit, newest_first.size());
  for (size_t i = 0; i < n; ++i)
    records.push(to_json(newest_first[i]));
  auto v = json::value::make_object();
  v.set("records", std::move(records));
  if (newest_first.size() > limit && n > 0)
    v.set("nextCursor", static_cast<int64_t>(newest_first[n - 1].seq));
  else
    v.set("nextCursor", json::value{});
  return v;
}

audit_chain_checker::audit_chain_checker(uint64_t anchor_seq, std::string anchor_hash)
    : last_seq_(anchor_seq), last_hash_(std::move(anchor_hash)) {}

std::optional<audit_problem> audit_chain_checker::check(const audit_record& r) {
  if (problem_)
    return problem_;
  if (r.seq <= last_seq_)
    problem_ = audit_problem{r.seq, "seq " + std::to_string(r.seq) + " does not follow " +
                                      std::to_string(last_seq_) + " (out of order or duplicated)"};
  else if (r.seq != last_seq_ + 1)
    problem_ = audit_problem{r.seq, "gap: " + range(last_seq_ + 1, r.seq - 1) +
                                      " missing (removed rows)"};
  else if (r.prev_hash != last_hash_)
    problem_ = audit_problem{r.seq, "prev_hash does not match the hash of " +
                                      (last_seq_ == 0 ? std::string{"the genesis"}
                                                      : "record " + std::to_string(last_seq_)) +
                                      " (a record was changed or replaced)"};
  else if (audit_hash(r) != r.hash)
    problem_ = audit_problem{r.seq, "hash mismatch: the record's content was changed"};
  if (problem_)
    return problem_;
  last_seq_ = r.seq;
  last_hash_ = r.hash;
  ++checked_;
  return std::nullopt;
}

std::optional<audit_problem> audit_chain_checker::finish(uint64_t expected_last_seq) {
  if (problem_)
    return problem_;
  if (expected_last_seq > last_seq_)
    problem_ = audit_problem{last_seq_ + 1, "gap: " + range(last_seq_ + 1, expected_last_seq) +
                                              " missing at the end (removed rows)"};
  return problem_;
}

} // namespace vigil
