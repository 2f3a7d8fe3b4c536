#pragma once
// Publishing in a writer order without leases (the event stream per hospital, the audit stream
// as a whole): a message is "the one after seq N" and JetStream keeps only the first of two
// writers that both saw N as the newest.

#include <nats/nats.h>

#include <cstdint>
#include <string>

namespace vigil {

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
