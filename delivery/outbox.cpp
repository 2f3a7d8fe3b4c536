#include "delivery/outbox.hpp"

#include "delivery/counters.hpp"

namespace vigil {

void outbox::set_waker(waker wake, void* arg) {
  std::lock_guard<std::mutex> g{mu_};
  waker_ = wake;
  waker_arg_ = arg;
}

void outbox::mark_dirty_locked(uint64_t conn, std::unique_lock<std::mutex>& lock) {
  dirty_.push_back(conn);
  wake_locked(lock);
}


void outbox::wake_locked(std::unique_lock<std::mutex>& lock) {
  bool wake = !wake_pending_;
  wake_pending_ = true;
  auto* fn = waker_;
  auto* arg = waker_arg_;
  lock.unlock();
  if (wake && fn != nullptr)
    fn(arg);
}

bool outbox::push_locked(uint64_t conn, out_frame&& f, bool* dirty) {
  auto i = queues_.find(conn);
  if (i == queues_.end() || (i->second.close.requested && !i->second.close.drain))
    return false;
  auto& q = i->second;
  auto n = f.size();
  // Subscription data is held to the budget. Replies and control frames answer what the client
  // asked for (at most its calls in flight at a time), so they may take reply_budget_factor times
  // as much: a client that asked for several large pages at once is not a slow consumer.
  bool is_event = f.event != nullptr;
  bool over = is_event ? q.event_bytes + n > budget_ : q.bytes + n > budget_ * reply_budget_factor;
  if (over && !q.frames.empty()) {
    // Cull the laggard rather than grow without bound.
    q.frames.clear();
    q.bytes = 0;
    q.event_bytes = 0;
    q.close = close_request{true, close_code::slow_consumer, "slow consumer", false};
    counters::get().slow_consumer_closes++;
    culled_.push_back(conn);
    dirty_.push_back(conn);
    *dirty = true;
    return false;
  }
  q.bytes += n;
  if (is_event)
    q.event_bytes += n;
  q.frames.push_back(std::move(f));
  if (q.frames.size() == 1) {
    dirty_.push_back(conn);
    *dirty = true;
  }
  return true;
}

bool outbox::push(uint64_t conn, out_frame f) {
  std::unique_lock<std::mutex> lock{mu_};
  bool dirty = false;
  bool queued = push_locked(conn, std::move(f), &dirty);
  if (dirty)
    wake_locked(lock);
  return queued;
}

size_t outbox::push_many(std::vector<std::pair<uint64_t, out_frame>>& frames) {
  std::unique_lock<std::mutex> lock{mu_};
  bool dirty = false;
  size_t queued = 0;
  for (auto& [conn, f] : frames)
    queued += push_locked(conn, std::move(f), &dirty) ? 1 : 0;
  if (dirty)
    wake_locked(lock);
  return queued;
}

void outbox::respond(uint64_t conn, http_response r) {
  std::unique_lock<std::mutex> lock{mu_};
  auto i = queues_.find(conn);
  if (i == queues_.end())
    return;
  i->second.response = std::make_unique<http_response>(std::move(r));
  mark_dirty_locked(conn, lock);
}

void outbox::close(uint64_t conn, uint16_t code, std::string reason, bool drain) {
  std::unique_lock<std::mutex> lock{mu_};
  auto i = queues_.find(conn);
  if (i == queues_.end() || i->second.close.requested)
    return;
  i->second.close = close_request{true, code, std::move(reason), drain};
  if (!drain) {
    i->second.frames.clear();
    i->second.bytes = 0;
    i->second.event_bytes = 0;
  }
  mark_dirty_locked(conn, lock);
}

void outbox::wake(uint64_t conn) {
  std::unique_lock<std::mutex> lock{mu_};
  if (queues_.count(conn) == 0)
    return;
  mark_dirty_locked(conn, lock);
}

void outbox::open(uint64_t conn) {
  std::lock_guard<std::mutex> g{mu_};
  queues_[conn];
}

void outbox::forget(uint64_t conn) {
  std::lock_guard<std::mutex> g{mu_};
  queues_.erase(conn);
}

std::vector<uint64_t> outbox::take_dirty() {
  std::vector<uint64_t> result;
  std::lock_guard<std::mutex> g{mu_};
  result.swap(dirty_);
  wake_pending_ = false;
  return result;
}

std::vector<uint64_t> outbox::take_culled() {
  std::vector<uint64_t> result;
  std::lock_guard<std::mutex> g{mu_};
  result.swap(culled_);
  return result;
}

bool outbox::take(uint64_t conn, std::vector<out_frame>& into, size_t max_frames) {
  std::lock_guard<std::mutex> g{mu_};
  auto i = queues_.find(conn);
  if (i == queues_.end())
    return false;
  auto& q = i->second;
  while (!q.frames.empty() && max_frames-- > 0) {
    q.bytes -= q.frames.front().size();
    if (q.frames.front().event)
      q.event_bytes -= q.frames.front().size();
    into.push_back(std::move(q.frames.front()));
    q.frames.pop_front();
  }
  return !q.frames.empty();
}

bool outbox::take_bytes(uint64_t conn, std::vector<out_frame>& into, size_t max_bytes) {
  std::lock_guard<std::mutex> g{mu_};
  auto i = queues_.find(conn);
  if (i == queues_.end())
    return false;
  auto& q = i->second;
  size_t taken = 0;
  while (!q.frames.empty()) {
    auto n = q.frames.front().size();
    if (taken > 0 && taken + n > max_bytes)
      break;
    taken += n;
    q.bytes -= n;
    if (q.frames.front().event)
      q.event_bytes -= n;
    into.push_back(std::move(q.frames.front()));
    q.frames.pop_front();
  }
  return !q.frames.empty();
}

bool outbox::take_response(uint64_t conn, http_response& into) {
  std::lock_guard<std::mutex> g{mu_};
  auto i = queues_.find(conn);
  if (i == queues_.end() || !i->second.response)
    return false;
  into = std::move(*i->second.response);
  i->second.response.reset();
  return true;
}

outbox::close_request outbox::close_state(uint64_t conn) {
  std::lock_guard<std::mutex> g{mu_};
  auto i = queues_.find(conn);
  if (i == queues_.end())
    return {};
  return i->second.close;
}

void outbox::trim_idle() {
  std::lock_guard<std::mutex> g{mu_};
  for (auto& [conn, q] : queues_)
    q.frames.release_if_empty();
}

size_t outbox::queued_bytes(uint64_t conn) {
  std::lock_guard<std::mutex> g{mu_};
  auto i = queues_.find(conn);
  return i == queues_.end() ? 0 : i->second.bytes;
}

} // namespace vigil
