#pragma once
// The storage actor: owns the SQLite event store on its own thread (spawn<detached>), so fsyncs
// never block CAF workers. Commits use group commit: every commit request that is already in the
// mailbox when a flush runs goes into the same transaction; an idle server commits at once.

#include <caf/actor_system.hpp>

#include <memory>

#include "actors/runtime.hpp"
#include "domain/alert_text.hpp"
#include "storage/event_store.hpp"

namespace vigil {

/// Spawns the storage actor on a dedicated thread; it takes ownership of `store`. With
/// `detached = false` it runs as an ordinary scheduled actor instead (tests under CAF's
/// deterministic test coordinator, which cannot drive detached actors).
storage_actor spawn_storage(caf::actor_system& sys, runtime_ptr rt,
                         std::shared_ptr<storage::event_store> store, bool detached = true);

/// Spawns the storage reader on its own thread: hospital warm-ups (load_atom) and replay pages
/// (read_atom) from a second, read-only SQLite connection, so reads never wait behind commits and
/// commits never wait behind a large read (WAL lets both run at once). Its status (`ok`) tells
/// readiness probes that its thread is serving.
storage_reader_actor spawn_storage_reader(caf::actor_system& sys, runtime_ptr rt,
                                          std::shared_ptr<storage::event_store> store);

/// Encodes `w` for storage (see pending_write::encoded) from the text of to_json(w.next)
/// (alert_text); `data_is_alert`: the event's data is that same alert (alert.created). Called
/// by hospital actors, which run in parallel, instead of on the one storage thread.
void encode_write(pending_write& w, const json_text& alert, bool data_is_alert);

/// Decodes a stored event into an encoded_event.
encoded_event_ptr encode_stored(const std::string& epoch, const storage::stored_event& e);

} // namespace vigil
