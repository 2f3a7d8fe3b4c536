#pragma once
// How many bytes the process has read from a TCP socket (Linux TCP_INFO), to measure a request
// head lws cannot show us whole (headers it does not know).

#include <cstdint>
#include <optional>

namespace vigil::net {

/// Bytes read from the TCP socket `fd` so far: what the kernel received (tcpi_bytes_received)
/// less what still waits in its receive queue (SIOCINQ). Received first, queue second, so data
/// arriving in between can only make the result smaller. nullopt where the kernel cannot say.
std::optional<uint64_t> socket_bytes_read(int fd);

} // namespace vigil::net
