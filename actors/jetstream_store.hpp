#pragma once
// The JetStream event store (storage.engine = jetstream): every event of every hospital is one
// message of one stream (cluster.stream, subjects vigil.events.<hospital>, file storage,
// cluster.replicas). A mutation is stored once JetStream acknowledged the publish (a quorum of
// replicas has it). One writer order per hospital without leases: a write is published with
// ExpectLastSubjectSeq = the newest seq the hospital actor had applied, so of two nodes writing
// on the same view exactly one succeeds and the other catches up and validates again.
//
// libnats calls block: they run on the store's own thread (spawn<detached>); libnats's delivery
// threads only decode a message and send it to an actor.

#include <caf/actor_system.hpp>

#include <memory>
#include <string>

#include "actors/cluster_presence.hpp"
#include "actors/messages.hpp"
#include "actors/runtime.hpp"

namespace vigil {

/// An open connection to the NATS cluster with the event stream ensured.
class jetstream_link;
using jetstream_link_ptr = std::shared_ptr<jetstream_link>;

/// Connects to cfg.nats_urls and creates the stream if it does not exist (retrying while the
/// JetStream cluster elects its leaders, at most `wait_ms`). Sets rt.epoch (the stream's, kept
/// in its description) and rt.last_seq. nullptr with `*error` set when it cannot.
jetstream_link_ptr open_jetstream(runtime& rt, int64_t wait_ms, std::string* error);

/// The JetStream store and its follows (which end with it).
struct jetstream_actors {
  jetstream_actor store;
  jetstream_follow_actor follows;
};

/// Spawns the JetStream store and its follows, each on its own thread; the follows start the
/// alert-index follower (alert id -> hospital for every alert of the stream, for routing calls
/// of hospitals not hosted yet).
jetstream_actors spawn_jetstream_store(caf::actor_system& sys, runtime_ptr rt,
                                       jetstream_link_ptr link);

/// The hospital of an alert the alert index does not hold yet (one another node created a
/// moment ago): the index catches up to the stream's newest message first, waiting at most
/// `wait_ms` in all. nullopt when the alert is not in the stream (or NATS does not answer).
std::optional<std::string> lookup_after_catching_up(const jetstream_link& link,
                                                    const alert_index& index,
                                                    const std::string& alert_id,
                                                    int64_t wait_ms);

/// Waits (at most `wait_ms`) until the alert-index follower of the store spawned on `link` has
/// read the stream up to `seq`, so that every alert stored before then routes (a call naming
/// it is not NOT_FOUND). false when it has not within `wait_ms`.
bool wait_for_alert_index(const jetstream_link& link, uint64_t seq, int64_t wait_ms);

/// The hospitals with open alerts in the stream, as far as the alert index has read it (after
/// wait_for_alert_index: up to the start), each due at once. A restarting node hands it to the
/// directory (restore_escalation_timers) so escalation and failsafe timers run without waiting
/// for a client to use the hospital, as one vigild on SQLite does (plan_escalation_restore).
restore_plan cluster_restore_plan(jetstream_link& link);

/// Starts cluster-wide presence (actors/cluster_presence.hpp) on the link's connection:
/// subscribes to vigil.presence.<stream>, says hello and beats until the result is destroyed.
/// nullptr (logged) when it cannot subscribe: the failsafe then waits for receipt deadlines.
cluster_presence_ptr start_cluster_presence(const jetstream_link_ptr& link);

/// The subject of a hospital: vigil.events.<hospital>, every byte outside [A-Za-z0-9_-]
/// written as %XX (subjects cannot hold '.', '*', '>' or spaces).
std::string hospital_subject(const std::string& hospital);

} // namespace vigil
