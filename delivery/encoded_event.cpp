#include "delivery/encoded_event.hpp"

#include "domain/json.hpp"

namespace vigil {

std::shared_ptr<encoded_event> make_encoded_event(uint64_t seq, std::string id, std::string type,
                                     std::string alert_id, int urgency, std::string alert_type,
                                     std::string plain, std::string meta) {
  auto e = std::make_shared<encoded_event>();
  e->seq = seq;
  e->type = std::move(type);
  e->alert_id = std::move(alert_id);
  e->urgency_level = urgency;
  e->alert_type = std::move(alert_type);
  std::string id_part = "\"id\":";
  json::write_string(id_part, id);
  id_part += ",\"data\":";
  e->plain_tail.reserve(id_part.size() + plain.size() + 2);
  e->plain_tail = id_part;
  e->plain_tail += plain;
  e->plain_tail += "}}";
  e->superjson_tail = id_part;
  json::wrap_superjson(e->superjson_tail, plain, meta);
  e->superjson_tail += "}}";
  e->id = std::move(id);
  e->plain = std::move(plain);
  e->meta = std::move(meta);
  return e;
}

} // namespace vigil
