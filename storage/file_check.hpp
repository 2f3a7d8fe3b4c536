#pragma once
// Checks a closed database file with SQLite's own consistency pragmas (vigilctl backup and
// restore check their copies before anything is renamed into place).

#include <string>

namespace vigil::storage {

/// Runs `pragma` ("quick_check" or "integrity_check(5)") on the file, read-only. Empty when it
/// answers "ok", else the problems it reports ("; "-separated) or why it could not run.
std::string check_file(const std::string& path, const char* pragma);

} // namespace vigil::storage
