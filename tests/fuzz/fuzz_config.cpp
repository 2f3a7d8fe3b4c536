// libFuzzer harness: the configuration file reader and option parsers (domain/config.*). The
// input is written to a file and loaded with `--config=<file>`; it is also given to the value
// parsers (durations, sizes, escalation tiers). Invariant: nothing crashes; a refusal is one line.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "domain/config.hpp"

using namespace vigil;

namespace {
std::string config_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/vigil-fuzz-config-" + std::to_string(::getpid())
           + ".conf";
  }();
  return path;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  (void)parse_duration_ms(text);
  (void)parse_size(text);
  (void)parse_tiers(text);

  const std::string path = config_path();
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  } else {
    return 0;
  }
  const std::string flag = "--config=" + path;
  const char* argv[] = {"vigild", flag.c_str()};
  auto r = load_config(2, argv, [](const char*) -> std::optional<std::string> { return std::nullopt; });
  if (auto* err = std::get_if<std::string>(&r)) {
    if (err->empty() || err->find('\n') != std::string::npos)
      std::abort();
  }
  std::remove(path.c_str());
  return 0;
}
