#include "actors/jetstream_common.hpp"

#include <thread>

#include "domain/log.hpp"

namespace vigil {

std::string status_text(natsStatus s, jsErrCode code) {
  std::string out = natsStatus_GetText(s);
  if (code != 0)
    out += " (jetstream error " + std::to_string(static_cast<int>(code)) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0' && out.find(last) == std::string::npos)
    out += ": " + std::string(last);
  return out;
}

uint64_t stream_seq_of(natsMsg* m) {
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, m) != NATS_OK || meta == nullptr)
    return 0;
  auto seq = meta->Sequence.Stream;
  jsMsgMetaData_Destroy(meta);
  return seq;
}

jsStreamInfo* find_or_create_stream(jsCtx* js, jsStreamConfig& sc, int64_t wait_ms,
                                    std::chrono::steady_clock::time_point deadline,
                                    std::string* error) {
  for (;;) {
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = wait_ms;
    auto s = js_GetStreamInfo(&si, js, sc.Name, &o, &code);
    if (s == NATS_OK)
      return si;
    if (s == NATS_NOT_FOUND || code == JSStreamNotFoundErr) {
      code = static_cast<jsErrCode>(0);
      s = js_AddStream(&si, js, &sc, &o, &code);
      if (s == NATS_OK) {
        log::info("cluster_stream_created", {{"stream", sc.Name}, {"replicas", sc.Replicas}});
        return si;
      }
      if (code == JSStreamNameExistErr)
        continue; // another node was faster
    }
    if (std::chrono::steady_clock::now() > deadline) {
      *error = "cannot create or find stream " + std::string(sc.Name) + ": "
               + status_text(s, code);
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

void ordered_consumer(jsSubOptions& so, const std::string& stream, uint64_t after_seq,
                      bool headers_only) {
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Ordered = true;
  so.Config.Heartbeat = consumer_heartbeat_ns;
  so.Config.HeadersOnly = headers_only;
  if (after_seq == 0) {
    so.Config.DeliverPolicy = js_DeliverAll;
  } else {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = after_seq + 1;
  }
}

natsSubscription* follow(jsCtx* js, const std::string& stream, const std::string& subject,
                         uint64_t after_seq, bool headers_only, natsMsgHandler cb,
                         void* closure, int64_t wait_ms, std::string* error) {
  jsSubOptions so;
  ordered_consumer(so, stream, after_seq, headers_only);
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = wait_ms;
  natsSubscription* sub = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  auto s = js_Subscribe(&sub, js, subject.c_str(), cb, closure, &o, &so, &code);
  if (s != NATS_OK) {
    *error = status_text(s, code);
    return nullptr;
  }
  natsSubscription_SetPendingLimits(sub, -1, -1);
  return sub;
}

natsStatus publish_after(jsCtx* js, natsMsg* m, const std::string& id_prefix, uint64_t expected,
                         bool stream_wide, int64_t wait_ms, jsPubAck** ack, jsErrCode* code) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = wait_ms;
  std::string msg_id = id_prefix + "@" + std::to_string(expected);
  po.MsgId = msg_id.c_str();
  if (expected == 0)
    po.ExpectNoMessage = true;
  else if (stream_wide)
    po.ExpectLastSeq = expected;
  else
    po.ExpectLastSubjectSeq = expected;
  *code = static_cast<jsErrCode>(0);
  return js_PublishMsg(ack, js, m, &po, code);
}

} // namespace vigil
