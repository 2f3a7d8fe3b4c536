#include "domain/pipeline.hpp"

#include <cctype>

namespace vigil {

namespace {

/// Stands for an Authorization value that is not `Bearer <token>`: never verifies.
const std::string unusable_token{"\x01invalid"};

std::string lower_ascii(std::string s) {
  for (auto& ch : s)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

/// Alert ids are lowercase UUIDs; inputs may use any case.
void lowercase_alert_ids(json::value& input) {
  auto lower = [](json::value& v) {
    if (v.is_string())
      v = json::value{lower_ascii(v.as_string())};
  };
  if (auto* a = input.find("alertId"))
    lower(*a);
  if (auto* ids = input.find("alertIds"); ids != nullptr && ids->is_array())
    for (auto& x : ids->as_array())
      lower(x);
}

std::string id_text(const json::value* id) {
  if (id == nullptr)
    return "null";
  return id->is_string() ? id->as_string() : json::to_string(*id);
}

refusal refuse(trpc_code code, std::string message) {
  return refusal{call_error{code, std::move(message)}, std::nullopt, nullptr};
}

/// Checks 3–7 for a call whose procedure is known.
std::variant<routed_call, refusal> check_call(const procedure_info& proc, const call_request& c,
                                              const auth_state& auth, const call_context& ctx) {
  // 3) token
  if (!auth.who)
    return refusal{call_error{trpc_code::unauthorized, auth_failure_message(auth.failure)},
                   auth.failure, nullptr};
  if (token_expired(*auth.who, ctx.now_ms))
    return refusal{call_error{trpc_code::unauthorized,
                              auth_failure_message(auth_failure::expired)},
                   auth_failure::expired, nullptr};
  // 4) role
  if (!role_has(auth.who->user_role, proc.perm))
    return refuse(trpc_code::forbidden,
                  std::string{"Access denied. Required permission: "} + permission_name(proc.perm));
  // 5) input
  bool envelope = false;
  static const json::value no_input;
  auto decoded = trpc::decode_input(c.input != nullptr, c.input ? *c.input : no_input, &envelope);
  if (auto* err = std::get_if<call_error>(&decoded))
    return refusal{*err, std::nullopt, nullptr};
  auto& in = std::get<trpc::decoded_input>(decoded);
  auto validated = validate_input(proc.id, in.present ? &in.value : nullptr);
  if (auto* err = std::get_if<call_error>(&validated))
    return refusal{*err, std::nullopt, nullptr};
  routed_call r;
  r.proc = &proc;
  r.input = std::move(std::get<json::value>(validated));
  lowercase_alert_ids(r.input);
  // 6) the alert exists, 7) hospital access
  switch (proc.scope) {
    case proc_scope::hospital: {
      auto* h = r.input.find("hospitalId");
      r.hospital_id = h != nullptr && h->is_string() ? h->as_string() : std::string{};
      if (!auth.who->has_hospital(r.hospital_id)) {
        if (proc.id == procedure::create_alert)
          return refuse(trpc_code::forbidden, "Invalid hospital ID. You can only create alerts "
                                              "for your assigned hospital.");
        return refuse(trpc_code::forbidden, "Access denied to this hospital");
      }
      break;
    }
    case proc_scope::alert: {
      auto* a = r.input.find("alertId");
      std::string id = a != nullptr && a->is_string() ? a->as_string() : std::string{};
      auto hospital = ctx.hospital_of ? ctx.hospital_of(id) : std::nullopt;
      if (!hospital)
        return refuse(trpc_code::not_found, "Alert not found");
      if (!auth.who->has_hospital(*hospital))
        return refuse(trpc_code::forbidden, "Access denied to this hospital");
      r.hospital_id = std::move(*hospital);
      break;
    }
    case proc_scope::alert_list:
      break;
  }
  r.who = auth.who;
  return r;
}

} // namespace

std::string audit_action(const procedure_info& proc) {
  std::string_view path = proc.path;
  auto dot = path.rfind('.');
  return std::string(dot == std::string_view::npos ? path : path.substr(dot + 1));
}

std::optional<audit_record> refusal_audit(const call_request& c, const refusal& r,
                                          const auth_state& auth, const call_context& ctx) {
  if (r.error.code == trpc_code::too_many_requests)
    return std::nullopt;
  const procedure_info* proc = find_procedure(c.path);
  if (proc == nullptr || !lookup(c.path, c.method).proc)
    return std::nullopt;
  if (proc->kind != proc_kind::mutation && proc->id != procedure::get_audit_log &&
      r.error.code != trpc_code::unauthorized)
    return std::nullopt;
  audit_record rec;
  rec.ts = ctx.now_ms;
  rec.action = audit_action(*proc);
  rec.outcome = audit_outcome(r.error.code);
  if (auth.who) {
    rec.user_id = auth.who->sub;
    rec.role = role_name(auth.who->user_role);
  }
  // The target, from the raw input (a superjson envelope carries it under "json").
  const json::value* input = c.input;
  if (input != nullptr && trpc::is_superjson_envelope(*input))
    input = input->find("json");
  if (input == nullptr || !input->is_object())
    return rec;
  if (proc->scope == proc_scope::hospital) {
    if (auto* h = input->find("hospitalId"); h != nullptr && h->is_string() &&
                                              valid_hospital_id(h->as_string()))
      rec.hospital_id = h->as_string();
  } else if (proc->scope == proc_scope::alert) {
    if (auto* a = input->find("alertId"); a != nullptr && a->is_string() &&
                                           valid_uuid(a->as_string())) {
      rec.alert_id = lower_ascii(a->as_string());
      if (ctx.hospital_of)
        rec.hospital_id = ctx.hospital_of(rec.alert_id).value_or("");
    }
  }
  return rec;
}

auth_state authenticate(const std::optional<std::string>& token, const jwt_config& cfg,
                        int64_t now_ms) {
  auth_state st;
  if (!token || token->empty()) {
    st.failure = auth_failure::missing;
    return st;
  }
  auto res = verify_token(*token, cfg, now_ms / 1000, &st.reason);
  if (auto* who = std::get_if<identity>(&res))
    st.who = std::make_shared<const identity>(std::move(*who));
  else
    st.failure = std::get<auth_failure>(res);
  return st;
}

std::optional<std::string> ws_token(const trpc::connection_params* params,
                                    std::string_view upgrade_authorization) {
  if (params != nullptr && params->token)
    return params->token;
  if (params != nullptr && params->authorization)
    return bearer_token(*params->authorization).value_or(unusable_token);
  if (!upgrade_authorization.empty())
    return bearer_token(upgrade_authorization).value_or(unusable_token);
  return std::nullopt;
}

std::optional<std::string> http_token(std::string_view authorization) {
  while (!authorization.empty() && std::isspace(static_cast<unsigned char>(authorization.front())))
    authorization.remove_prefix(1);
  while (!authorization.empty() && std::isspace(static_cast<unsigned char>(authorization.back())))
    authorization.remove_suffix(1);
  if (authorization.empty())
    return std::nullopt;
  return bearer_token(authorization).value_or(unusable_token);
}

bool replies_superjson(const json::value* input, transformer_mode t) {
  switch (t) {
    case transformer_mode::superjson: return true;
    case transformer_mode::json: return false;
    case transformer_mode::auto_detect: break;
  }
  return input != nullptr && trpc::is_superjson_envelope(*input);
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

call_error wrong_method(trpc::rpc_method m, const procedure_info& proc) {
  std::string verb = m == trpc::rpc_method::mutation ? "POST" : "GET";
  std::string kind = proc.kind == proc_kind::query      ? "query"
                     : proc.kind == proc_kind::mutation ? "mutation"
                                                        : "subscription";
  return call_error{trpc_code::method_not_supported, "Unsupported " + verb + "-request to " + kind
                                                       + " procedure at path \"" + proc.path
                                                       + "\""};
}

decision decide(const call_request& c, const auth_state& auth, const call_context& ctx) {
  decision d;
  d.envelope = c.input != nullptr && trpc::is_superjson_envelope(*c.input);
  d.superjson = replies_superjson(c.input, ctx.transformer);
  // 0) rate limit
  if (ctx.rate_limited) {
    d.outcome = refusal{*ctx.rate_limited, std::nullopt, nullptr};
    return d;
  }
  // 1) procedure lookup
  auto found = lookup(c.path, c.method);
  if (found.proc == nullptr) {
    if (ctx.transport == call_transport::http && found.wrong_kind) {
      auto* p = find_procedure(c.path);
      const char* allow = p->kind == proc_kind::query      ? "GET"
                          : p->kind == proc_kind::mutation ? "POST"
                                                           : nullptr;
      d.outcome = refusal{wrong_method(c.method, *p), std::nullopt, allow};
    } else {
      d.outcome = refusal{unknown_procedure(ctx.transport, c.method, c.path), std::nullopt,
                          nullptr};
    }
    return d;
  }
  // 2) WebSocket: subscription slots, then the connection's token
  if (ctx.transport == call_transport::websocket) {
    if (c.method == trpc::rpc_method::subscription) {
      if (ctx.duplicate_id) {
        d.outcome = refuse(trpc_code::bad_request, "Duplicate id " + id_text(c.id));
        return d;
      }
      if (ctx.open_subscriptions >= ctx.max_subscriptions) {
        d.outcome = refuse(trpc_code::bad_request,
                           "Too many subscriptions on this connection (max "
                             + std::to_string(ctx.max_subscriptions) + ")");
        return d;
      }
    }
    if (ctx.connection_token_expired) {
      d.outcome = refuse(trpc_code::unauthorized, "Token expired");
      return d;
    }
  }
  // 3)–7)
  d.outcome = check_call(*found.proc, c, auth, ctx);
  return d;
}

} // namespace vigil
