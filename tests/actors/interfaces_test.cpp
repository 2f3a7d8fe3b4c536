// The typed interfaces (actors/interfaces.hpp): which messages each actor takes is checked at
// compile time, and the status structs carry what the inspector and /ready read.

#include "tests/actors/hospital_harness.hpp"

#include <caf/response_type.hpp>

namespace vigil::test {
namespace {

/// True when actor handle `Handle` takes the message `Xs...`.
template <class Handle, class... Xs>
constexpr bool takes = caf::response_type<caf::signatures_of_t<Handle>, Xs...>::valid;

/// The reply type of `Xs...` sent to `Handle`.
template <class Handle, class... Xs>
using reply_of = typename caf::response_type<caf::signatures_of_t<Handle>, Xs...>::type;

// A wrong message does not compile (these are the cases the untyped actors got wrong only at
// run time: the same atom meaning different things by arity or by actor).
static_assert(takes<hospital_actor, status_atom>);
static_assert(!takes<hospital_actor, lookup_atom, std::string>);
static_assert(!takes<metrics_actor, presence_flush_atom>);
static_assert(!takes<hospital_actor, metrics_flush_atom>);
static_assert(!takes<directory_actor, status_atom, std::string>);
static_assert(!takes<connection_actor, drop_atom, uint64_t>);
static_assert(!takes<storage_reader_actor, commit_atom, commit_request_ptr>);
static_assert(takes<storage_actor, commit_atom, commit_request_ptr>);
// Replies are typed too.
static_assert(std::is_same_v<reply_of<directory_actor, lookup_atom, std::string>,
                             caf::detail::type_list<hospital_actor>>);
static_assert(std::is_same_v<reply_of<hospital_actor, call_ptr>,
                             caf::detail::type_list<call_result_ptr>>);
static_assert(std::is_same_v<reply_of<hospital_actor, status_atom>,
                             caf::detail::type_list<hospital_status>>);
// The writer stands in for a missing reader (runtime::reader()).
static_assert(std::is_convertible_v<storage_actor, storage_reader_actor>);
// Cluster: the JetStream store is a storage actor that also follows hospitals, which take the
// events of their subject.
static_assert(std::is_convertible_v<jetstream_actor, storage_actor>);
static_assert(takes<jetstream_follow_actor, follow_atom, std::string, hospital_actor, uint64_t>);
static_assert(!takes<storage_actor, follow_atom, std::string, hospital_actor, uint64_t>);
static_assert(takes<hospital_actor, stream_event_ptr>);

TEST(interfaces, HospitalStatusReportsAlertsTimersAndSubscribers) {
  harness h{"nurse:2m,doctor:3m,head_doctor"};
  h.start_server();
  auto hosp = h.hospital();
  auto a1 = h.create_alert(hosp, "ICU-1");
  auto a2 = h.create_alert(hosp, "ICU-2");
  ASSERT_FALSE(a1.empty());
  ASSERT_FALSE(a2.empty());
  h.subscribe(hosp, 7);
  h.subscribe(hosp, 3);
  ASSERT_TRUE(h.run());
  auto s = h.ask<hospital_status>(hosp, status_atom::value);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->hospital_id, "h1");
  EXPECT_EQ(s->alerts, 2u);
  EXPECT_EQ(s->open, 2u);
  EXPECT_EQ(s->active, 2u);
  EXPECT_EQ(s->subscribers, 2u);
  EXPECT_EQ(s->connections, (std::vector<uint64_t>{3, 7}));
  EXPECT_EQ(s->ring_depth, 2u);
  EXPECT_NE(s->metrics_actor, 0u);
  ASSERT_EQ(s->escalations.size(), 2u);
  for (auto& e : s->escalations) {
    EXPECT_EQ(e.tier, 1);
    EXPECT_GT(e.deadline_ms, h.now());
  }
}

TEST(interfaces, DirectoryAndStorageStatus) {
  harness h;
  h.start_server();
  h.hospital("h1");
  auto d = h.ask<directory_status>(h.rt->directory, status_atom::value);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->hospitals, 1u);
  EXPECT_EQ(d->restoring, 0u);
  EXPECT_EQ(d->not_ready, "");
  auto s = h.ask<storage_status>(h.rt->storage, status_atom::value);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->ok);
  EXPECT_TRUE(s->writer);
}

} // namespace
} // namespace vigil::test
