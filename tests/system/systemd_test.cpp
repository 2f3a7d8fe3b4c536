// vigild as systemd and operators see it: the built binary runs as a child process.
// Type=notify (READY=1 once listening, STOPPING=1 on SIGTERM) over a unix datagram socket,
// journald priority prefixes when $JOURNAL_STREAM names stderr, the exit codes of
// --check-config, --version and configuration errors (2, RestartPreventExitStatus=2).

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "domain/log.hpp"
#include "domain/sd_notify.hpp"

namespace {

/// Every directory made by temp_dir(), removed when the test program ends.
struct temp_dirs {
  std::vector<std::string> paths;
  ~temp_dirs() {
    std::error_code ec;
    for (auto& p : paths) std::filesystem::remove_all(p, ec);
  }
};
temp_dirs g_temp_dirs;

std::string temp_dir() {
  std::string t = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
  t += "/vigil-systemd-XXXXXX";
  if (::mkdtemp(t.data()) == nullptr) std::abort();
  g_temp_dirs.paths.push_back(t);
  return t;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A bound unix datagram socket (what systemd listens on) with a receive timeout.
struct notify_socket {
  int fd = -1;
  std::string path;
  explicit notify_socket(const std::string& p) : path(p) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, p.c_str(), sizeof addr.sun_path - 1);
    if (p[0] == '@') addr.sun_path[0] = '\0';
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + p.size() +
                                           (p[0] == '@' ? 0 : 1));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) std::abort();
    timeval tv{20, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~notify_socket() { ::close(fd); }
  /// The next datagram, or nullopt after the timeout.
  std::optional<std::string> receive() {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }
};

/// Runs vigild with `args` and extra environment entries, stderr to `stderr_path` and stdout to
/// `stdout_path` (or /dev/null).
pid_t start_vigild(const std::vector<std::string>& args, const std::vector<std::string>& env,
                   const std::string& stderr_path, const std::string& stdout_path = "/dev/null") {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  int out = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  ::dup2(err, 2);
  ::dup2(out, 1);
  std::vector<std::string> all{VIGILD_BIN};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  // A clean environment: only what the test sets (no inherited JOURNAL_STREAM or NOTIFY_SOCKET).
  std::vector<std::string> env_copy = env;
  env_copy.emplace_back("AUTH_JWT_SECRET=");
  std::vector<char*> envp;
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);
  ::execve(VIGILD_BIN, argv.data(), envp.data());
  ::_exit(127);
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<std::string> server_args(const std::string& dir) {
  return {"--host=127.0.0.1", "--port=0", "--admin.port=0", "--db=" + dir + "/vigil.db"};
}

/// GET `path` on 127.0.0.1:port; the status line.
std::string http_status_line(int port, const char* path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "connect failed";
  }
  std::string req = std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  return text.substr(0, text.find("\r\n"));
}

TEST(SdNotify, SendsOneDatagramToPathAndAbstractSockets) {
  const std::string dir = temp_dir();
  notify_socket sock(dir + "/n.sock");
  std::string error;
  ASSERT_TRUE(vigil::sd_notify_to(sock.path, "READY=1", &error)) << error;
  EXPECT_EQ(sock.receive(), "READY=1");
  notify_socket abstract("@vigil-test-" + std::to_string(::getpid()));
  ASSERT_TRUE(vigil::sd_notify_to(abstract.path, "STOPPING=1", &error)) << error;
  EXPECT_EQ(abstract.receive(), "STOPPING=1");
  EXPECT_FALSE(vigil::sd_notify_to("relative.sock", "READY=1", &error));
  EXPECT_FALSE(vigil::sd_notify_to(dir + "/nobody.sock", "READY=1", &error));
}

TEST(Systemd, ReadyOnlyOnceListeningAndStoppingOnSigterm) {
  const std::string dir = temp_dir();
  notify_socket sock(dir + "/notify.sock");
  const std::string log = dir + "/stderr.log";
  pid_t pid = start_vigild(server_args(dir), {"NOTIFY_SOCKET=" + sock.path}, log);
  auto ready = sock.receive();
  ASSERT_TRUE(ready) << "no READY=1 within 20 s; stderr:\n" << read_file(log);
  EXPECT_EQ(ready->rfind("READY=1\n", 0), 0u) << *ready;
  // By then the store is restored and the listener is bound: the listening line is written
  // and the port answers at once.
  const std::string before = read_file(log);
  ASSERT_NE(before.find("event=listening"), std::string::npos) << before;
  auto at = ready->find("STATUS=listening on port ");
  ASSERT_NE(at, std::string::npos) << *ready;
  int port = std::atoi(ready->c_str() + at + std::strlen("STATUS=listening on port "));
  ASSERT_GT(port, 0);
  EXPECT_EQ(http_status_line(port, "/health"), "HTTP/1.1 200 OK");
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  auto stopping = sock.receive();
  ASSERT_TRUE(stopping) << read_file(log);
  EXPECT_EQ(stopping->rfind("STOPPING=1", 0), 0u) << *stopping;
  EXPECT_EQ(wait_exit(pid), 0) << read_file(log);
}

TEST(Systemd, SighupReloadsBetweenReloadingAndReady) {
  const std::string dir = temp_dir();
  notify_socket sock(dir + "/notify.sock");
  const std::string log = dir + "/stderr.log";
  pid_t pid = start_vigild(server_args(dir), {"NOTIFY_SOCKET=" + sock.path}, log);
  ASSERT_TRUE(sock.receive()) << "no READY=1; stderr:\n" << read_file(log);
  ASSERT_EQ(::kill(pid, SIGHUP), 0);
  auto reloading = sock.receive();
  ASSERT_TRUE(reloading) << read_file(log);
  EXPECT_EQ(*reloading, "RELOADING=1");
  auto ready = sock.receive();
  ASSERT_TRUE(ready) << read_file(log);
  EXPECT_EQ(*ready, "READY=1");
  EXPECT_NE(read_file(log).find("event=reloaded changed=none"), std::string::npos) << read_file(log);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  ASSERT_TRUE(sock.receive()); // STOPPING=1
  EXPECT_EQ(wait_exit(pid), 0) << read_file(log); // not 129: SIGHUP did not end it
}

TEST(Systemd, NoNotifySocketStillStartsAndStops) {
  const std::string dir = temp_dir();
  const std::string log = dir + "/stderr.log";
  // A socket path nobody listens on: the failed send must not stop vigild.
  pid_t pid = start_vigild(server_args(dir), {"NOTIFY_SOCKET=" + dir + "/absent.sock"}, log);
  for (int i = 0; i < 200 && read_file(log).find("event=listening") == std::string::npos; ++i)
    ::usleep(50 * 1000); // polling a file written by another process: no event to await
  ASSERT_NE(read_file(log).find("event=listening"), std::string::npos) << read_file(log);
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 0) << read_file(log);
}

/// Runs vigild until READY=1, stops it, and returns its stderr (with JOURNAL_STREAM computed
/// from the log file itself when `journal` is true, or a foreign one otherwise).
std::string run_with_journal_stream(bool matching, std::vector<std::string> extra_args = {}) {
  const std::string dir = temp_dir();
  notify_socket sock(dir + "/notify.sock");
  const std::string log = dir + "/stderr.log";
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT, 0600);
  struct stat st {};
  ::fstat(fd, &st);
  ::close(fd);
  std::string stream = matching ? std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)
                                : std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
  auto args = server_args(dir);
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_t pid = start_vigild(args, {"NOTIFY_SOCKET=" + sock.path, "JOURNAL_STREAM=" + stream}, log);
  auto ready = sock.receive();
  if (ready) ::kill(pid, SIGTERM);
  wait_exit(pid);
  return read_file(log);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(Journald, PriorityPrefixesWhenStderrIsTheJournalStream) {
  const std::string text = run_with_journal_stream(true);
  auto lines = lines_of(text);
  ASSERT_GE(lines.size(), 3u) << text;
  bool saw_warn = false, saw_info = false;
  for (const std::string& line : lines) {
    ASSERT_EQ(line[0], '<') << line;
    if (line.find("event=insecure_default_secret") != std::string::npos) {
      EXPECT_EQ(line.rfind("<4>ts=", 0), 0u) << line;
      saw_warn = true;
    }
    if (line.find("event=listening") != std::string::npos) {
      EXPECT_EQ(line.rfind("<6>ts=", 0), 0u) << line;
      saw_info = true;
    }
  }
  EXPECT_TRUE(saw_warn && saw_info) << text;
  // JSON lines get the same prefix in front of the object.
  const std::string json = run_with_journal_stream(true, {"--log.format=json"});
  EXPECT_NE(json.find("<6>{\"ts\":"), std::string::npos) << json;
}

TEST(Journald, ErrorsAreUrgentAndDebugIsLowest) {
  const std::string dir = temp_dir();
  const std::string log = dir + "/stderr.log";
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT, 0600);
  struct stat st {};
  ::fstat(fd, &st);
  ::close(fd);
  // A database "inside" a regular file: storage_open_failed, exit 1.
  pid_t pid = start_vigild({"--port=0", "--admin.port=0", "--db=" + log + "/v.db"},
                           {"JOURNAL_STREAM=" + std::to_string(st.st_dev) + ":" +
                            std::to_string(st.st_ino)},
                           log);
  EXPECT_EQ(wait_exit(pid), 1);
  const std::string text = read_file(log);
  EXPECT_NE(text.find("<3>ts="), std::string::npos) << text;
  EXPECT_STREQ(vigil::log::journal_prefix(vigil::log::level::debug), "<7>");
  EXPECT_STREQ(vigil::log::journal_prefix(vigil::log::level::info), "<6>");
}

TEST(Journald, NoPrefixWhenJournalStreamIsNotStderr) {
  // Inherited from a parent whose stderr went to the journal, while ours goes to a file.
  const std::string text = run_with_journal_stream(false);
  ASSERT_NE(text.find("event=listening"), std::string::npos) << text;
  for (const std::string& line : lines_of(text)) EXPECT_EQ(line.rfind("ts=", 0), 0u) << line;
}

TEST(Cli, VersionCheckConfigAndConfigurationErrors) {
  const std::string dir = temp_dir();
  const std::string out = dir + "/out", err = dir + "/err";
  EXPECT_EQ(wait_exit(start_vigild({"--version"}, {}, err, out)), 0);
  EXPECT_EQ(read_file(out), "vigild " VIGIL_VERSION "\n");
  ::unlink(out.c_str());
  EXPECT_EQ(wait_exit(start_vigild({"--check-config", "--port=4000"}, {}, err, out)), 0);
  EXPECT_EQ(read_file(out), "configuration OK\n");
  EXPECT_EQ(read_file(err), "");
  // A configuration error: exit 2 (the unit's RestartPreventExitStatus), one line on stderr,
  // nothing created.
  EXPECT_EQ(wait_exit(start_vigild({"--check-config"}, {"VIGIL_LIMITS_RATE=fast"}, err, out)), 2);
  EXPECT_EQ(read_file(err),
            "vigild: invalid value \"fast\" for limits.rate (from VIGIL_LIMITS_RATE): expected a "
            "number\n");
  ::unlink(err.c_str());
  EXPECT_EQ(wait_exit(start_vigild({"--port=bogus", "--db=" + dir + "/v.db"}, {}, err, out)), 2);
  EXPECT_EQ(lines_of(read_file(err)).size(), 1u);
  struct stat st {};
  EXPECT_NE(::stat((dir + "/v.db").c_str(), &st), 0) << "a configuration error created the db";
}

} // namespace
