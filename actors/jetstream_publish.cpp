#include "actors/jetstream_publish.hpp"

namespace vigil {

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
