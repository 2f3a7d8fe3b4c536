// tRPC v11 wire codec: request frames, connection params, superjson inputs, reply encoders.

#include "domain/trpc.hpp"

#include <algorithm>
#include <unordered_map>

#include "domain/time.hpp"

namespace vigil::trpc {

const char* method_name(rpc_method m) {
  switch (m) {
  case rpc_method::query: return "query";
  case rpc_method::mutation: return "mutation";
  case rpc_method::subscription: return "subscription";
  case rpc_method::subscription_stop: return "subscription.stop";
  }
  return "query";
}

// ---- request frames ------------------------------------------------------------------------------

namespace {

std::optional<rpc_method> method_from_name(std::string_view name) {
  if (name == "query") return rpc_method::query;
  if (name == "mutation") return rpc_method::mutation;
  if (name == "subscription") return rpc_method::subscription;
  if (name == "subscription.stop") return rpc_method::subscription_stop;
  return std::nullopt;
}

/// Validates one request object (tRPC's parseTRPCMessage, plus `id` required) and moves its parts
/// into `out`. Returns the PARSE_ERROR message on failure.
std::optional<std::string> parse_request(json::value& element, ws_request& out) {
  if (!element.is_object()) return std::string("Not an object");

  json::value* id = element.find("id");
  if (id == nullptr || id->is_null()) return std::string("`id` is required");
  if (!id->is_number() && !id->is_string()) return std::string("Invalid request id");
  out.id = std::move(*id);

  if (const json::value* jsonrpc = element.find("jsonrpc")) {
    if (!jsonrpc->is_string() || jsonrpc->as_string() != "2.0") {
      return std::string("Must be JSONRPC 2.0");
    }
    out.jsonrpc = true;
  }

  const json::value* method = element.find("method");
  std::optional<rpc_method> parsed_method;
  if (method != nullptr && method->is_string()) parsed_method = method_from_name(method->as_string());
  if (!parsed_method) return std::string("Invalid procedure type");
  out.method = *parsed_method;
  if (out.method == rpc_method::subscription_stop) return std::nullopt; // no params needed

  json::value* params = element.find("params");
  if (params == nullptr || !params->is_object()) return std::string("Invalid params");

  const json::value* path = params->find("path");
  if (path == nullptr || !path->is_string()) {
    return std::string("Invalid params: `path` must be a string");
  }
  out.path = path->as_string();

  // A null lastEventId is what a client without a remembered id could send: treat it as absent.
  const json::value* last_event_id = params->find("lastEventId");
  if (last_event_id != nullptr && !last_event_id->is_null()) {
    if (!last_event_id->is_string()) {
      return std::string("Invalid params: `lastEventId` must be a string");
    }
    out.last_event_id = last_event_id->as_string();
  }

  if (json::value* input = params->find("input")) {
    out.has_input = true;
    out.input = std::move(*input);
  }
  return std::nullopt;
}

} // namespace

std::variant<ws_frame, std::string> parse_ws_frame(std::string_view text) {
  std::string error;
  std::optional<json::value> doc = json::parse(text, &error);
  if (!doc) return error;

  ws_frame frame;
  if (doc->is_array()) {
    json::array_t& elements = doc->as_array();
    if (elements.empty()) return std::string("Empty batch");
    frame.batch = true;
    frame.requests.reserve(elements.size());
    for (json::value& element : elements) {
      ws_request request;
      if (auto failure = parse_request(element, request)) return *failure;
      frame.requests.push_back(std::move(request));
    }
    return frame;
  }

  ws_request request;
  if (auto failure = parse_request(*doc, request)) return *failure;
  frame.requests.push_back(std::move(request));
  return frame;
}

std::variant<connection_params, std::string> parse_connection_params(std::string_view text) {
  static const char* const malformed = "Malformed TRPCConnectionParamsMessage";
  static const char* const bad_shape = "Invalid connection params shape";

  std::string error;
  std::optional<json::value> doc = json::parse(text, &error);
  if (!doc || !doc->is_object()) return std::string(malformed);
  const json::value* method = doc->find("method");
  if (method == nullptr || !method->is_string() || method->as_string() != "connectionParams") {
    return std::string(malformed);
  }

  const json::value* data = doc->find("data");
  if (data == nullptr) return std::string(bad_shape);
  connection_params params;
  if (data->is_null()) return params;
  if (!data->is_object()) return std::string(bad_shape);
  for (const auto& member : data->as_object()) {
    if (!member.second.is_string()) return std::string(bad_shape);
    if (member.first == "token") params.token = member.second.as_string();
    else if (member.first == "authorization") params.authorization = member.second.as_string();
  }
  return params;
}

// ---- superjson input -----------------------------------------------------------------------------

bool is_superjson_envelope(const json::value& input) {
  if (!input.is_object() || input.find("json") == nullptr) return false;
  for (const auto& member : input.as_object()) {
    if (member.first != "json" && member.first != "meta") return false;
  }
  return true;
}

namespace {

call_error bad_input(std::string_view path, std::string_view reason) {
  call_error e;
  e.code = trpc_code::bad_request;
  e.message = "Invalid input: ";
  e.message += path;
  e.message += ": ";
  e.message += reason;
  return e;
}

/// Splits a superjson path on unescaped dots; `\.` is a literal dot and `\\` a backslash (a lone
/// backslash stays as it is, like superjson's own parser).
std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments(1);
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '\\' && i + 1 < path.size() && (path[i + 1] == '\\' || path[i + 1] == '.')) {
      segments.back() += path[++i];
    } else if (c == '.') {
      segments.emplace_back();
    } else {
      segments.back() += c;
    }
  }
  return segments;
}

/// Parses an array index segment: decimal digits only, no sign, no leading zeros.
std::optional<size_t> parse_index(const std::string& segment) {
  if (segment.empty() || segment.size() > 9) return std::nullopt;
  if (segment.size() > 1 && segment[0] == '0') return std::nullopt;
  size_t index = 0;
  for (char c : segment) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  return index;
}

/// The type name of an annotation: `["Date"]` -> Date; `[["class","X"]]` -> class.
std::optional<std::string> annotation_type(const json::value& annotation) {
  if (!annotation.is_array() || annotation.size() == 0) return std::nullopt;
  const json::value& head = annotation.as_array()[0];
  if (head.is_string()) return head.as_string();
  if (head.is_array() && head.size() > 0 && head.as_array()[0].is_string()) {
    return head.as_array()[0].as_string();
  }
  return std::nullopt;
}

/// Where an annotation applies: the value itself and, to remove it (`undefined`), its parent and
/// its index there.
struct target {
  json::value* parent = nullptr; // null for the root
  json::value* node = nullptr;
  size_t index = 0;              // member or element index in the parent
};

/// Resolves paths in time linear in their length, whatever the size of the objects on the way:
/// an object's members are indexed by key the first time a path enters it. Nothing is erased
/// until `finish`: an `undefined` member only leaves the index (so later paths through it fail,
/// as they would after an erase) and is marked for removal.
class path_resolver {
public:
  explicit path_resolver(json::value& root) : root_(root) {}

  std::optional<target> resolve(const std::vector<std::string>& segments) {
    target t;
    t.node = &root_;
    for (const std::string& segment : segments) {
      json::value* next = nullptr;
      size_t index = 0;
      if (t.node->is_object()) {
        auto& members = index_of(*t.node);
        auto it = members.find(segment);
        if (it != members.end()) {
          index = it->second;
          next = &t.node->as_object()[index].second;
        }
      } else if (t.node->is_array()) {
        const std::optional<size_t> parsed = parse_index(segment);
        if (parsed && *parsed < t.node->size()) {
          index = *parsed;
          next = &t.node->as_array()[index];
        }
      }
      if (next == nullptr) return std::nullopt;
      t.parent = t.node;
      t.index = index;
      t.node = next;
    }
    return t;
  }

  /// Removes member `index` of object `parent` (at `finish`; unreachable at once).
  void remove_member(json::value& parent, size_t index) {
    index_of(parent).erase(parent.as_object()[index].first);
    removals_[&parent.as_object()].push_back(index);
  }

  /// Erases the removed members, keeping the order of the others. Objects are found by walking
  /// the document rather than through the recorded pointers: an object whose ancestor was
  /// removed, or replaced by null in an array, no longer exists (its record is never matched, as
  /// no object is created while decoding), and a kept one keeps its member storage when moved.
  void finish() {
    if (!removals_.empty()) compact(root_);
    removals_.clear();
  }

private:
  void compact(json::value& v) {
    if (v.is_array()) {
      for (json::value& item : v.as_array()) compact(item);
      return;
    }
    if (!v.is_object()) return;
    json::object_t& members = v.as_object();
    auto found = removals_.find(&members);
    if (found != removals_.end()) {
      std::vector<size_t>& indices = found->second;
      std::sort(indices.begin(), indices.end());
      json::object_t kept;
      kept.reserve(members.size() - indices.size());
      size_t next_removed = 0;
      for (size_t i = 0; i < members.size(); ++i) {
        if (next_removed < indices.size() && indices[next_removed] == i) {
          ++next_removed;
          continue;
        }
        kept.push_back(std::move(members[i]));
      }
      members = std::move(kept);
    }
    for (auto& member : members) compact(member.second);
  }

  using member_index = std::unordered_map<std::string_view, size_t>;

  /// The key index of an object. Keys are string_views into the members, which stay in place
  /// until `finish` (a value is only ever replaced by null, never moved, before then).
  member_index& index_of(json::value& object) {
    auto inserted = indices_.try_emplace(&object);
    member_index& members = inserted.first->second;
    if (inserted.second) {
      const json::object_t& list = object.as_object();
      members.reserve(list.size());
      for (size_t i = 0; i < list.size(); ++i) members.emplace(list[i].first, i); // first wins
    }
    return members;
  }

  json::value& root_;
  std::unordered_map<const json::value*, member_index> indices_;
  std::unordered_map<const json::object_t*, std::vector<size_t>> removals_;
};

/// Applies one annotation. `label` names the path in error messages.
std::optional<call_error> apply_annotation(decoded_input& out, path_resolver* resolver,
                                           const target& t, const json::value& annotation,
                                           std::string_view label) {
  const std::optional<std::string> type = annotation_type(annotation);
  if (!type) return bad_input(label, "Invalid superjson annotation");
  json::value& node = *t.node;
  if (*type == "undefined") {
    if (t.parent == nullptr) {
      out.present = false;
      out.value = json::value();
    } else if (t.parent->is_object()) {
      resolver->remove_member(*t.parent, t.index);
    } else {
      node = json::value(); // an array slot cannot be removed without shifting its neighbours
    }
    return std::nullopt;
  }
  if (*type == "Date") {
    if (!node.is_string() || !parse_iso(node.as_string())) return bad_input(label, "Invalid date");
    node.set_date_flag(true);
    return std::nullopt;
  }
  return bad_input(label, "Unsupported superjson type \"" + *type + "\"");
}

} // namespace

std::variant<decoded_input, call_error> decode_superjson(const json::value& envelope,
                                                         size_t max_annotations) {
  if (!is_superjson_envelope(envelope)) return bad_input("input", "Invalid superjson envelope");
  decoded_input out;
  out.present = true;
  out.value = *envelope.find("json");

  const json::value* meta = envelope.find("meta");
  if (meta == nullptr || meta->is_null()) return out;
  if (!meta->is_object()) return bad_input("input", "Invalid superjson meta");
  const json::value* values = meta->find("values");
  if (values == nullptr || values->is_null()) return out;

  if (values->is_array()) { // root annotation
    target root;
    root.node = &out.value;
    if (auto failure = apply_annotation(out, nullptr, root, *values, "input")) return *failure;
    return out;
  }
  if (!values->is_object()) return bad_input("input", "Invalid superjson meta");
  if (values->size() > max_annotations) {
    return bad_input("input", "Too many superjson annotations (more than "
                                  + std::to_string(max_annotations) + ")");
  }

  path_resolver resolver(out.value);
  for (const auto& entry : values->as_object()) {
    const std::string& path = entry.first;
    if (!out.present) return bad_input(path, "Invalid superjson path");
    std::optional<target> t = resolver.resolve(split_path(path));
    if (!t || t->parent == nullptr) return bad_input(path, "Invalid superjson path");
    if (auto failure = apply_annotation(out, &resolver, *t, entry.second, path)) return *failure;
  }
  resolver.finish();
  return out;
}

std::variant<decoded_input, call_error> decode_input(bool has_input, const json::value& input,
                                                     bool* superjson) {
  const bool envelope = has_input && is_superjson_envelope(input);
  if (superjson != nullptr) *superjson = envelope;
  if (!has_input) return decoded_input{};
  if (envelope) return decode_superjson(input);
  decoded_input out;
  out.present = true;
  out.value = input;
  return out;
}

// ---- encoders ------------------------------------------------------------------------------------

namespace {

void write_head(std::string& out, const json::value& id, bool jsonrpc) {
  out += "{\"id\":";
  json::write(out, id);
  if (jsonrpc) out += ",\"jsonrpc\":\"2.0\"";
}

void write_payload(std::string& out, const json::value& v, bool superjson) {
  if (superjson) json::write_superjson(out, v);
  else json::write(out, v);
}

std::string ws_result_type(const json::value& id, bool jsonrpc, const char* type) {
  std::string out;
  write_head(out, id, jsonrpc);
  out += ",\"result\":{\"type\":\"";
  out += type;
  out += "\"}}";
  return out;
}

} // namespace

std::string ws_data(const json::value& id, bool jsonrpc, const json::value& data, bool superjson) {
  std::string out = ws_data_prefix(id, jsonrpc);
  out += "\"data\":";
  write_payload(out, data, superjson);
  out += "}}";
  return out;
}

std::string ws_data_text(const json::value& id, bool jsonrpc, std::string_view plain,
                         std::string_view meta, bool superjson) {
  std::string out = ws_data_prefix(id, jsonrpc);
  out.reserve(out.size() + plain.size() + meta.size() + 32);
  out += "\"data\":";
  if (superjson) json::wrap_superjson(out, plain, meta);
  else out += plain;
  out += "}}";
  return out;
}

std::string ws_started(const json::value& id, bool jsonrpc) {
  return ws_result_type(id, jsonrpc, "started");
}

std::string ws_stopped(const json::value& id, bool jsonrpc) {
  return ws_result_type(id, jsonrpc, "stopped");
}

std::string ws_error(const json::value& id, bool jsonrpc, const call_error& e, std::string_view path,
                     bool superjson) {
  std::string out;
  write_head(out, id, jsonrpc);
  out += ",\"error\":";
  write_payload(out, error_shape(e, path), superjson);
  out += '}';
  return out;
}

std::string ws_data_prefix(const json::value& id, bool jsonrpc) {
  std::string out;
  write_head(out, id, jsonrpc);
  out += ",\"result\":{\"type\":\"data\",";
  return out;
}

std::string ws_reconnect() { return "{\"id\":null,\"method\":\"reconnect\"}"; }

std::string http_result(const json::value& data, bool superjson) {
  std::string out = "{\"result\":{\"data\":";
  write_payload(out, data, superjson);
  out += "}}";
  return out;
}

std::string http_result_text(std::string_view plain, std::string_view meta, bool superjson) {
  std::string out = "{\"result\":{\"data\":";
  if (superjson) json::wrap_superjson(out, plain, meta);
  else out += plain;
  out += "}}";
  return out;
}

std::string http_error(const call_error& e, std::string_view path, bool superjson) {
  std::string out = "{\"error\":";
  write_payload(out, error_shape(e, path), superjson);
  out += '}';
  return out;
}

} // namespace vigil::trpc
