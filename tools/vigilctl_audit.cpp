// `vigilctl audit`: the audit trail offline, from the database file (docs/operations.md "Audit
// trail"). Prints records (text or JSON lines), or with --verify walks the hash chain from its
// anchor to the writer's high-water mark and names the first broken record. The database is
// opened read-only, so this works next to a running vigild (WAL) and never changes the file.

#include <cstdio>
#include <string>

#include "domain/audit.hpp"
#include "domain/config.hpp"
#include "domain/json.hpp"
#include "domain/time.hpp"
#include "storage/audit_store.hpp"
#include "storage/event_store.hpp"
#include "tools/vigilctl_commands.hpp"

namespace vigil::ctl {

namespace {

constexpr const char* audit_usage =
  "Usage: vigilctl audit --db FILE [--hospital H] [--since TIME] [--json]\n"
  "       vigilctl audit --db FILE --verify [--json]\n"
  "\n"
  "The audit trail of the database FILE (vigild's storage.path): one record per lifecycle action\n"
  "(createAlert, acknowledgeAlert, resolveAlert, triggerEscalation, escalationTimeout by the\n"
  "timer, updateAlert, transferAlert, the batch actions per alert, getAuditLog) and per refused\n"
  "one, oldest first. Opened read-only: works while vigild runs.\n"
  "  --db FILE        the database; it must exist\n"
  "  --hospital H     only records of hospital H\n"
  "  --since TIME     only records at or after TIME: ISO-8601 (2026-12-02T06:00:00Z) or a\n"
  "                   duration back from now (30m, 2h, 168h)\n"
  "  --json           one JSON object per line instead of text\n"
  "  --verify         check the whole hash chain instead of printing: every record's hash, its\n"
  "                   link to the previous record, no seq missing (removed rows) up to the\n"
  "                   newest seq the server wrote; names the first broken record\n"
  "\n"
  "Exit codes: 0 success (verify: the chain is intact), 1 failure (verify: the chain is broken),\n"
  "2 usage error.\n";

constexpr size_t page_size = 1000;

int usage_error(const std::string& message) {
  std::fprintf(stderr, "vigilctl audit: %s\n(run `vigilctl audit --help` for usage)\n",
               message.c_str());
  return exit_usage;
}

int failure(const std::string& message) {
  std::fprintf(stderr, "vigilctl audit: %s\n", message.c_str());
  return exit_failure;
}

/// --since: an ISO-8601 time, or a duration back from now.
std::optional<int64_t> parse_since(const std::string& text) {
  if (auto at = parse_iso(text))
    return at;
  if (auto back = parse_duration_ms(text))
    return now_ms() - *back;
  return std::nullopt;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string text_line(const audit_record& r) {
  return "#" + std::to_string(r.seq) + " " + format_iso(r.ts) + " " + or_dash(r.hospital_id) +
         " " + r.action + " " + r.outcome + " user=" + or_dash(r.user_id) +
         " role=" + or_dash(r.role) + " alert=" + or_dash(r.alert_id) +
         " conn=" + std::to_string(r.conn_id) + " remote=" + or_dash(r.remote) + "\n";
}

int print_records(storage::event_store& store, const std::string& hospital,
                  std::optional<int64_t> since, bool as_json) {
  storage::audit_bounds bounds;
  std::string error;
  if (!store.audit().bounds(&bounds, &error))
    return failure(error);
  uint64_t after = bounds.anchor_seq;
  for (;;) {
    auto rows = store.audit().after(after, page_size, &error);
    if (!error.empty())
      return failure(error);
    for (const auto& r : rows) {
      if ((!hospital.empty() && r.hospital_id != hospital) || (since && r.ts < *since))
        continue;
      std::string line = as_json ? json::to_string(to_json(r)) + "\n" : text_line(r);
      if (std::fputs(line.c_str(), stdout) < 0)
        return failure("cannot write to stdout");
    }
    if (rows.size() < page_size)
      break;
    after = rows.back().seq;
  }
  return std::fflush(stdout) == 0 ? exit_ok : failure("cannot write to stdout");
}

int verify(storage::event_store& store, const std::string& db, bool as_json) {
  auto report = store.audit().verify(page_size);
  if (!report.error.empty())
    return failure(report.error);
  if (as_json) {
    auto v = json::value::make_object();
    v.set("database", db);
    v.set("intact", report.ok());
    v.set("records", static_cast<int64_t>(report.checked));
    v.set("anchorSeq", static_cast<int64_t>(report.bounds.anchor_seq));
    v.set("lastSeq", static_cast<int64_t>(report.bounds.last_seq));
    v.set("headHash", report.head_hash);
    if (report.problem) {
      auto p = json::value::make_object();
      p.set("seq", static_cast<int64_t>(report.problem->seq));
      p.set("what", report.problem->what);
      v.set("broken", std::move(p));
    } else {
      v.set("broken", json::value{});
    }
    std::printf("%s\n", json::to_string(v).c_str());
  } else if (report.problem) {
    std::printf("audit trail BROKEN at seq %llu: %s\n(%llu records verified before it, from "
                "anchor seq %llu)\n",
                static_cast<unsigned long long>(report.problem->seq), report.problem->what.c_str(),
                static_cast<unsigned long long>(report.checked),
                static_cast<unsigned long long>(report.bounds.anchor_seq));
  } else {
    std::printf("audit trail intact: %llu records, seq %llu..%llu (anchor seq %llu), head hash "
                "%s\n",
                static_cast<unsigned long long>(report.checked),
                static_cast<unsigned long long>(report.bounds.anchor_seq + 1),
                static_cast<unsigned long long>(report.bounds.last_seq),
                static_cast<unsigned long long>(report.bounds.anchor_seq),
                report.head_hash.c_str());
  }
  std::fflush(stdout);
  return report.ok() ? exit_ok : exit_failure;
}

} // namespace

int run_audit(int argc, char** argv) {
  std::string db, hospital, since_text;
  bool as_json = false, check = false;
  arg_cursor args(argc, argv);
  while (!args.done()) {
    std::string v;
    if (args.help()) {
      std::printf("%s", audit_usage);
      return exit_ok;
    }
    if (args.flag("verify"))
      check = true;
    else if (args.flag("json"))
      as_json = true;
    else if (args.value("db", v))
      db = v;
    else if (args.value("hospital", v))
      hospital = v;
    else if (args.value("since", v))
      since_text = v;
    else if (args.failed())
      return usage_error(args.error());
    else
      return usage_error("unknown option \"" + std::string(args.current()) + "\"");
  }
  if (db.empty())
    return usage_error("--db FILE is required");
  if (check && (!hospital.empty() || !since_text.empty()))
    return usage_error("--verify checks the whole chain: it takes no --hospital or --since");
  std::optional<int64_t> since;
  if (!since_text.empty() && !(since = parse_since(since_text)))
    return usage_error("--since: expected an ISO-8601 time or a duration (30m, 2h, 168h), got \"" +
                       since_text + "\"");
  std::string error;
  storage::open_options ro;
  ro.read_only = true;
  auto store = storage::event_store::open(db, ro, &error);
  if (!store)
    return failure(error);
  return check ? verify(*store, db, as_json) : print_records(*store, hospital, since, as_json);
}

} // namespace vigil::ctl
