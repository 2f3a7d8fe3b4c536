#pragma once
// What the JetStream event store and the audit stream share (libnats): error texts, finding or
// creating a stream, following one with an ordered consumer, and publishing in a writer order
// without leases.

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace vigil {

/// Idle heartbeat of the ordered consumers: libnats makes a consumer again after two missed
/// ones, so this bounds how long a follower whose consumer died with its NATS server stays
/// silent (and a write waits for its own event). libnats's default is 5 s.
inline constexpr int64_t consumer_heartbeat_ns = 1000LL * 1000 * 1000;

/// libnats's status text, the JetStream error code and libnats's last error detail.
std::string status_text(natsStatus s, jsErrCode code = static_cast<jsErrCode>(0));

/// The stream sequence of a JetStream message; 0 for a status message (heartbeat, flow control).
uint64_t stream_seq_of(natsMsg* m);

/// Looks up stream sc.Name, creating it with `sc` when it does not exist (an existing one is
/// never changed), retrying every 250 ms until `deadline` while the JetStream cluster elects
/// its meta leader. Its info (to destroy), or nullptr with `*error`.
jsStreamInfo* find_or_create_stream(jsCtx* js, jsStreamConfig& sc, int64_t wait_ms,
                                    std::chrono::steady_clock::time_point deadline,
                                    std::string* error);

/// Options of an ordered consumer of `stream` from after `after_seq` (0: from the start);
/// `stream` must outlive them.
void ordered_consumer(jsSubOptions& so, const std::string& stream, uint64_t after_seq,
                      bool headers_only);

/// Subscribes an ordered consumer of `stream` to `subject` from after `after_seq` (0: from the
/// start), delivering to `cb`; waits at most `wait_ms` for its creation. nullptr with `*error`.
natsSubscription* follow(jsCtx* js, const std::string& stream, const std::string& subject,
                         uint64_t after_seq, bool headers_only, natsMsgHandler cb,
                         void* closure, int64_t wait_ms, std::string* error);

/// Publishes `m` (not destroyed) expecting `expected` as the newest sequence of its subject
/// (`stream_wide`: of the whole stream), 0 for none yet, waiting at most `wait_ms` for the
/// acknowledgement. The message id "<id_prefix>@<expected>" names its place: nats-server 2.9
/// checks the expected sequence only before proposing a write to its replicas, so two writes in
/// flight at once can both pass it (nats-server#4320, fixed in 2.9.21); deduplication is checked
/// where the replicas apply writes in order, so it decides the race (the second is acknowledged
/// as a duplicate carrying the first one's sequence). A writer that lost gets
/// JSStreamWrongLastSequenceErr or a duplicate acknowledgement.
natsStatus publish_after(jsCtx* js, natsMsg* m, const std::string& id_prefix, uint64_t expected,
                         bool stream_wide, int64_t wait_ms, jsPubAck** ack, jsErrCode* code);

} // namespace vigil
