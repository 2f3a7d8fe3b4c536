#include "transport/static_files.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "domain/url.hpp"

namespace vigil {

namespace {

const char* mime_type(const std::string& path) {
  auto dot = path.rfind('.');
  auto ext = dot == std::string::npos ? std::string{} : path.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json") return "application/json";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "ico") return "image/x-icon";
  if (ext == "woff2") return "font/woff2";
  return "application/octet-stream";
}

} // namespace

std::optional<http_response> static_file(const std::string& dir, const std::string& uri) {
  auto path = url_decode(uri.substr(0, uri.find('?')));
  if (path.empty() || path[0] != '/' || path.find("..") != std::string::npos
      || path.find("/.") != std::string::npos || path.find('\0') != std::string::npos)
    return std::nullopt;
  if (path.back() == '/')
    path += "index.html";
  auto full = dir + path;
  // Symbolic links may point anywhere: serve only what really lies inside the directory.
  char* real_dir = ::realpath(dir.c_str(), nullptr);
  char* real_file = ::realpath(full.c_str(), nullptr);
  std::string inside = real_dir ? std::string(real_dir) + "/" : std::string{};
  std::string real = real_file ? std::string(real_file) : std::string{};
  std::free(real_dir);
  std::free(real_file);
  if (inside.empty() || real.compare(0, inside.size(), inside) != 0)
    return std::nullopt;
  struct stat st{};
  if (::stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 16 * 1024 * 1024)
    return std::nullopt;
  std::ifstream in{real, std::ios::binary};
  if (!in)
    return std::nullopt;
  http_response r;
  r.content_type = mime_type(full);
  r.body.assign(std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{});
  return r;
}

} // namespace vigil
