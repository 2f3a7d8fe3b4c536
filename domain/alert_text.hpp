#pragma once
// The JSON text of alerts and events written straight from the structs, for the durable write
// path: a mutation's alert is written once and that text is the event's data (alert.created),
// the reply's `alert` and the prefix of the stored row, instead of building a json::value tree
// for each. The text is byte for byte what json::write(to_json(…)) gives, and the superjson meta
// what json::write_meta gives (tests/unit/alert_text_test.cpp holds both to that).

#include <string>
#include <string_view>

#include "domain/alert.hpp"
#include "domain/json.hpp"

namespace vigil {

/// JSON text plus the superjson meta entries of its dates (`"<path>":["Date"]`, comma-separated,
/// document order; paths relative to the text's root).
struct json_text {
  std::string plain;
  std::string dates;
};

/// The alert as json::write(to_json(a, with_escalations)) writes it.
void write_alert(std::string& out, const alert& a, bool with_escalations);

/// to_json(a) (the shape of replies and of alert.created data) as text and its dates.
json_text alert_text(const alert& a);

/// The stored row's JSON (to_json(a, true)) from the text of to_json(a) (`plain` of alert_text).
std::string alert_row_text(const std::string& alert_plain, const alert& a);

/// An event's text without its id: the payload is `{"id":<id>` followed by `rest`; `meta` is the
/// whole superjson meta (the id holds no date). `data_text`, when given, replaces e.data: the
/// text of the same value (alert.created carries the alert exactly as to_json(a)).
struct event_text {
  std::string rest;
  std::string meta;
};
event_text encode_event_text(const alert_event& e, const json_text* data_text = nullptr);

/// The payload of an event with this id: `{"id":"<id>"` + rest.
std::string event_payload(std::string_view id, std::string_view rest);

/// A reply `head` (an object) with `"alert":<alert>` appended as its last member: text and
/// dates.
json_text reply_text(const json::value& head, const json_text& alert);

/// `{"values":{<entries>},"v":1}`, or "" when there are no entries.
std::string meta_of(std::string_view entries);

} // namespace vigil
