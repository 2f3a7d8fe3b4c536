#include "domain/admin_token.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vigil {

namespace {

std::string_view trim_blanks(std::string_view s) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

/// 32 bytes from the kernel's CSPRNG as 64 lowercase hex digits.
std::optional<std::string> random_token(std::string* error) {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = std::string{"getrandom failed: "} + std::strerror(errno);
      return std::nullopt;
    }
    got += static_cast<size_t>(n);
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

/// Creates `path` exclusively with mode 0600 holding `token` and a newline. EEXIST is reported
/// through *exists (another process won the race: read its file instead).
bool create_token_file(const std::string& path, const std::string& token, bool* exists,
                       std::string* error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    *exists = errno == EEXIST;
    *error = "cannot create admin.token-file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::string text = token + "\n";
  size_t done = 0;
  bool ok = true;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str()); // a half-written token would be refused at every later start
    *error = "cannot write admin.token-file " + path + ": " + std::strerror(saved);
    return false;
  }
  return true;
}

} // namespace

std::optional<std::string> check_admin_token(std::string_view token) {
  if (token.size() < admin_token_min)
    return "is shorter than " + std::to_string(admin_token_min) + " characters";
  if (token.size() > admin_token_max)
    return "is longer than " + std::to_string(admin_token_max) + " characters";
  for (char c : token)
    if (c <= ' ' || c > '~')
      return std::string{"holds a blank or a non-printable character"};
  return std::nullopt;
}

std::optional<std::string> read_admin_token(const std::string& path, std::string* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot read the admin token file " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  // Twice the longest token is plenty for one line with blanks; more is not a token file.
  char buf[2 * admin_token_max + 2];
  size_t len = 0;
  while (len < sizeof buf) {
    ssize_t n = ::read(fd, buf + len, sizeof buf - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = "cannot read the admin token file " + path + ": " + std::strerror(errno);
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  ::close(fd);
  auto token = trim_blanks(std::string_view{buf, len});
  if (len == sizeof buf)
    token = std::string_view{buf, len}; // too long: refused below
  if (auto bad = check_admin_token(token)) {
    *error = "the admin token in " + path + " " + *bad;
    return std::nullopt;
  }
  return std::string{token};
}

std::optional<std::string> ensure_admin_token(const std::string& path, std::string* error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      *error = "cannot read admin.token-file " + path + ": " + std::strerror(errno);
      return std::nullopt;
    }
    auto token = random_token(error);
    if (!token)
      return std::nullopt;
    bool exists = false;
    if (create_token_file(path, *token, &exists, error))
      return token;
    if (!exists)
      return std::nullopt;
    if (::stat(path.c_str(), &st) != 0) {
      *error = "cannot read admin.token-file " + path + ": " + std::strerror(errno);
      return std::nullopt;
    }
  }
  if (!S_ISREG(st.st_mode)) {
    *error = "admin.token-file " + path + " is not a regular file";
    return std::nullopt;
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    *error = "admin.token-file " + path + " has mode " + mode
             + ": other users could use the console (chmod 600 it, or delete it for a new one)";
    return std::nullopt;
  }
  return read_admin_token(path, error);
}

bool admin_token_matches(std::string_view expected, std::string_view given) {
  if (expected.empty())
    return false;
  // The length is not secret (every generated token has 64 digits); the content is.
  unsigned char diff = expected.size() == given.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ expected[i % expected.size()]);
  return diff == 0;
}

} // namespace vigil
