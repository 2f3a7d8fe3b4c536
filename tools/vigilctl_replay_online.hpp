#pragma once
// `vigilctl replay --verify --url`: verifies what a running node serves (one vigild, or any node
// of a cluster, where the replay is read from the JetStream stream) instead of a database file.

#include <string>

#include "tools/ws_client.hpp"

namespace vigil::ctl {

struct online_verify_options {
  std::string url;
  ws_endpoint endpoint;
  token_source tokens;
  std::string hospital;
  bool json = false;
};

/// Replays the hospital's whole history over the protocol (subscribeToAlerts from `<epoch>-0`
/// up to the newest event the server announced), checks its order, ids and completeness,
/// derives every alert from its events and compares it with the node's `getAlert`. Prints a
/// report (or one JSON object) on stdout; returns 0 when consistent, 1 otherwise.
int run_verify_online(const online_verify_options& o);

} // namespace vigil::ctl
