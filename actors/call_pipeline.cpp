#include "actors/call_pipeline.hpp"

#include <cctype>

#include "domain/time.hpp"
#include "delivery/counters.hpp"

namespace vigil {

auth_state authenticate(const std::string* token, const runtime& rt) {
  auth_state st;
  if (token == nullptr || token->empty()) {
    st.failure = auth_failure::missing;
    return st;
  }
  auto res = verify_token(*token, rt.cfg.jwt, rt.now() / 1000, &st.reason);
  if (auto* who = std::get_if<identity>(&res))
    st.who = std::make_shared<const identity>(std::move(*who));
  else
    st.failure = std::get<auth_failure>(res);
  return st;
}

lookup_result lookup(std::string_view path, trpc::rpc_method method) {
  lookup_result r;
  auto* p = find_procedure(path);
  if (p == nullptr)
    return r;
  bool match = (method == trpc::rpc_method::query && p->kind == proc_kind::query)
               || (method == trpc::rpc_method::mutation && p->kind == proc_kind::mutation)
               || (method == trpc::rpc_method::subscription && p->kind == proc_kind::subscription);
  if (match)
    r.proc = p;
  else
    r.wrong_kind = true;
  return r;
}

call_error unknown_procedure(call_transport t, trpc::rpc_method m, std::string_view path) {
  std::string msg;
  if (t == call_transport::websocket) {
    msg = "No \"";
    msg += trpc::method_name(m);
    msg += "\"-procedure on path \"";
  } else {
    msg = "No procedure found on path \"";
  }
  msg += path;
  msg += '"';
  return call_error{trpc_code::not_found, std::move(msg)};
}

namespace {

void count_auth_failure(auth_failure f) {
  auto& c = counters::get();
  switch (f) {
    case auth_failure::missing: c.auth_failures_missing++; break;
    case auth_failure::invalid: c.auth_failures_invalid++; break;
    case auth_failure::expired: c.auth_failures_expired++; break;
  }
}

/// Alert ids are lowercase UUIDs; inputs may use any case.
void lowercase_alert_ids(json::value& input) {
  auto lower = [](json::value& v) {
    if (!v.is_string())
      return;
    std::string s = v.as_string();
    for (auto& ch : s)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    v = json::value{std::move(s)};
  };
  if (auto* a = input.find("alertId"))
    lower(*a);
  if (auto* ids = input.find("alertIds"); ids != nullptr && ids->is_array())
    for (auto& x : ids->as_array())
      lower(x);
}

} // namespace

std::variant<prepared_call, call_error> prepare_call(const procedure_info& proc,
                                                     const auth_state& auth, bool has_input,
                                                     const json::value& raw_input,
                                                     const runtime& rt, int64_t now) {
  // 1) token
  if (!auth.who) {
    count_auth_failure(auth.failure);
    return call_error{trpc_code::unauthorized, auth_failure_message(auth.failure)};
  }
  if (token_expired(*auth.who, now)) {
    count_auth_failure(auth_failure::expired);
    return call_error{trpc_code::unauthorized, auth_failure_message(auth_failure::expired)};
  }
  // 2) role
  if (!role_has(auth.who->user_role, proc.perm))
    return call_error{trpc_code::forbidden,
                      std::string{"Access denied. Required permission: "}
                        + permission_name(proc.perm)};
  // 3) input
  bool superjson = false;
  auto decoded = trpc::decode_input(has_input, raw_input, &superjson);
  if (auto* err = std::get_if<call_error>(&decoded))
    return *err;
  auto& in = std::get<trpc::decoded_input>(decoded);
  auto validated = validate_input(proc.id, in.present ? &in.value : nullptr);
  if (auto* err = std::get_if<call_error>(&validated))
    return *err;
  auto input = std::move(std::get<json::value>(validated));
  lowercase_alert_ids(input);
  // 4) alert exists, 5) hospital access
  prepared_call pc;
  switch (proc.scope) {
    case proc_scope::hospital: {
      auto* h = input.find("hospitalId");
      pc.hospital_id = h != nullptr && h->is_string() ? h->as_string() : std::string{};
      if (!auth.who->has_hospital(pc.hospital_id)) {
        if (proc.id == procedure::create_alert)
          return call_error{trpc_code::forbidden, "Invalid hospital ID. You can only create "
                                                  "alerts for your assigned hospital."};
        return call_error{trpc_code::forbidden, "Access denied to this hospital"};
      }
      break;
    }
    case proc_scope::alert: {
      auto* a = input.find("alertId");
      std::string id = a != nullptr && a->is_string() ? a->as_string() : std::string{};
      auto hospital = rt.alerts.hospital_of(id);
      if (!hospital)
        return call_error{trpc_code::not_found, "Alert not found"};
      if (!auth.who->has_hospital(*hospital))
        return call_error{trpc_code::forbidden, "Access denied to this hospital"};
      pc.hospital_id = std::move(*hospital);
      break;
    }
    case proc_scope::alert_list:
      break;
  }
  auto c = std::make_shared<call>();
  c->proc = &proc;
  c->input = std::move(input);
  c->who = auth.who;
  pc.c = std::move(c);
  return pc;
}

} // namespace vigil
