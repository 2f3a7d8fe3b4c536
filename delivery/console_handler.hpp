#pragma once
// What the console listener (transport/console_server.cpp) asks of the server: the answer to one
// operator command. Implemented in actors/sessions.cpp by asking the inspector actor.

#include <chrono>
#include <string>
#include <vector>

namespace vigil {

class console_handler {
public:
  virtual ~console_handler() = default;
  /// The JSON reply (`{"ok":true,"data":…}` or `{"ok":false,"error":"…"}`) to `command` with
  /// `args`, within `timeout` (an error reply after that). Blocks the calling console thread;
  /// may be called from several console threads at once.
  virtual std::string inspect(const std::string& command, const std::vector<std::string>& args,
                              std::chrono::seconds timeout) = 0;
};

} // namespace vigil
