#pragma once
// `vigilctl replay --verify`: checks that the alerts table equals the state derived
// from the event log, that sequence numbers have no gaps and that the stored high-water mark is
// not behind the log (docs/api.md "Alert state machine", "Event ids and resume", "Durability").

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/event_id.hpp"
#include "storage/event_store.hpp"

namespace vigil::storage {

/// What `--verify` found. Difference texts name alert ids, event ids and field names; the values
/// of free-text fields (description, notes, resolution, patientId) are never included.
struct verify_report {
  std::string epoch;
  uint64_t events = 0;           // stored events read
  uint64_t first_seq = 0;        // smallest stored seq (0 when there are no events)
  uint64_t last_seq = 0;         // largest stored seq (0 when there are no events)
  uint64_t meta_last_seq = 0;    // the high-water mark in the meta table
  uint64_t pruned_through = 0;   // events with seq <= this may have been removed by retention
  uint64_t alerts = 0;           // rows of the alerts table
  uint64_t alerts_verified = 0;  // rows compared with the state derived from their events
  uint64_t alerts_not_verifiable = 0;  // rows whose alert.created event was pruned
  std::vector<std::string> differences;

  bool consistent() const { return differences.empty(); }
};

/// Derives alert state from events fed in seq order, then compares it with the alerts table.
/// Pure logic: no I/O. Use verify_database() for a database file.
class replay_verifier {
public:
  /// `epoch`, `meta_last_seq` and `pruned_through` as stored in the database's meta table.
  replay_verifier(std::string epoch, uint64_t meta_last_seq, uint64_t pruned_through);
  ~replay_verifier();
  replay_verifier(const replay_verifier&) = delete;
  replay_verifier& operator=(const replay_verifier&) = delete;

  /// Feeds the next stored event; events must come in ascending seq order.
  void add_event(const stored_event& e);
  /// Compares the derived state with `alerts` (every row of the alerts table) and returns the
  /// report. Call once, after the last add_event.
  verify_report finish(const std::vector<alert_row>& alerts);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Opens `path` read-only (it may be in use by a running vigild) and verifies it, reading the
/// meta table, every event and every alert in one read transaction, so the report describes one
/// consistent snapshot. nullopt with *error set when the file cannot be read as a Vigil database.
/// `progress` (optional) is called after each event with the events read and the number the
/// meta table leads to expect (last_seq - pruned_through; an estimate).
std::optional<verify_report> verify_database(
  const std::string& path, std::string* error,
  const std::function<void(uint64_t events_read, uint64_t events_expected)>& progress = {});

/// The human-readable report printed by `vigilctl replay --verify`, ending with a newline.
std::string format_report(const verify_report& r);

} // namespace vigil::storage
