#include "domain/http_call_parse.hpp"

#include <cctype>

#include "domain/pipeline.hpp"

namespace vigil {

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

/// One 400 response for a whole request: in batch mode an array with the error once per path.
http_refusal refuse_all(const call_error& e, const std::vector<std::string>& paths, bool batch) {
  http_refusal r;
  r.status = http_status(e.code);
  if (!batch) {
    r.body = trpc::http_error(e, paths.empty() ? std::string_view{} : paths[0], false);
    r.counted = e.code;
    return r;
  }
  r.body = "[";
  for (size_t i = 0; i < paths.size(); ++i) {
    if (i > 0)
      r.body += ',';
    r.body += trpc::http_error(e, paths[i], false);
  }
  r.body += ']';
  return r;
}

http_refusal refuse(const call_error& e, std::string_view path) {
  return http_refusal{http_status(e.code), trpc::http_error(e, path, false), e.code};
}

} // namespace

std::vector<std::string> split_paths(std::string_view path, bool batch) {
  std::vector<std::string> paths;
  if (!batch) {
    paths.emplace_back(path);
    return paths;
  }
  size_t start = 0;
  while (true) {
    auto comma = path.find(',', start);
    paths.emplace_back(path.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos)
      break;
    start = comma + 1;
  }
  return paths;
}

bool acceptable_content_type(std::string_view value) {
  auto v = trim(value);
  if (v.empty())
    return true;
  size_t start = 0;
  while (start <= v.size()) {
    auto comma = v.find(',', start);
    auto part = v.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                : comma - start);
    auto semi = part.find(';');
    if (lower(trim(part.substr(0, semi))) != "application/json")
      return false;
    if (comma == std::string_view::npos)
      break;
    start = comma + 1;
  }
  return true;
}

std::variant<http_calls, http_refusal> parse_http_call(const http_call_view& req,
                                                       transformer_mode transformer) {
  auto paths = split_paths(req.path, req.batch);
  if (!req.trpc_accept.empty()
      && lower(req.trpc_accept).find("application/jsonl") != std::string::npos)
    return refuse(call_error{trpc_code::bad_request,
                             "Streaming responses (trpc-accept: application/jsonl) are not "
                             "supported"},
                  paths[0]);
  if (req.post && !acceptable_content_type(req.content_type))
    return refuse(call_error{trpc_code::unsupported_media_type,
                             "Unsupported content-type \"" + std::string{req.content_type} + "\""},
                  "");
  std::string_view raw = req.post ? req.body : req.input;
  bool have_raw = req.post ? !trim(req.body).empty() : req.has_input;
  json::value parsed;
  if (have_raw) {
    std::string err;
    auto v = json::parse(raw, &err);
    if (!v)
      return refuse_all(call_error{trpc_code::bad_request, err}, paths, req.batch);
    parsed = std::move(*v);
  }
  if (req.batch && have_raw && !parsed.is_object()) {
    auto r = refuse_all(call_error{trpc_code::bad_request,
                                   "\"input\" needs to be an object when doing a batch call"},
                        paths, true);
    return r;
  }
  http_calls calls;
  calls.method = req.post ? trpc::rpc_method::mutation : trpc::rpc_method::query;
  calls.items.resize(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    auto& it = calls.items[i];
    it.path = std::move(paths[i]);
    if (req.batch) {
      if (auto* x = parsed.find(std::to_string(i))) {
        it.has_input = true;
        it.input = *x;
      }
    } else if (have_raw) {
      it.has_input = true;
      it.input = std::move(parsed);
    }
    it.superjson = replies_superjson(it.has_input ? &it.input : nullptr, transformer);
  }
  return calls;
}

} // namespace vigil
