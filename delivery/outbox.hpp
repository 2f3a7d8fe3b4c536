#pragma once
// The one place where CAF threads hand frames to the libwebsockets thread. Producers (connection,
// hospital and http_call actors) push frames under a mutex and wake the network thread with the
// waker the transport installs (lws_cancel_service(), the only lws call made off the lws
// thread; the outbox itself knows neither lws nor CAF). Wake-ups are coalesced: one
// pending wake-up serves any number of pushes. Each connection's queue has a byte budget; a push
// that would exceed it closes that connection with 4008 (slow consumer) instead of growing.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "delivery/close_codes.hpp"
#include "delivery/http_request.hpp"
#include "delivery/inbound_gauge.hpp"
#include "delivery/out_frame.hpp"

namespace vigil {

class outbox {
public:
  /// Replies and control frames may take this many times the budget (see push()).
  static constexpr size_t reply_budget_factor = 8;

  explicit outbox(size_t budget_bytes) : budget_(budget_bytes) {}

  /// Wakes the network thread; called off that thread, without the outbox's lock held.
  using waker = void (*)(void* arg);
  /// Installs the waker (the transport, once its event loop exists). Without one, pushes wake
  /// nothing (tests read the queues directly).
  void set_waker(waker wake, void* arg);

  // ---- producers (any thread) ----------------------------------------------------------------

  /// Queues a frame. Returns false when the connection is gone or closing, or when the frame
  /// would take the queue over budget (event frames: the budget counted over queued event
  /// frames; other frames: reply_budget_factor times the budget over everything queued): the
  /// connection is then closed with 4008 and its queue dropped (the client resumes by
  /// lastEventId).
  bool push(uint64_t conn, out_frame f);
  /// Queues one frame for each of many connections under one lock (fan-out of one event).
  /// Budget rules as for push(); returns how many frames were queued.
  size_t push_many(std::vector<std::pair<uint64_t, out_frame>>& frames);
  /// Queues a plain text frame.
  bool push_text(uint64_t conn, std::string text) { return push(conn, out_frame::text(std::move(text))); }
  /// Sets the response of an HTTP request.
  void respond(uint64_t conn, http_response r);
  /// Asks the lws thread to close a WebSocket with `code`; with `drain`, after the frames queued
  /// so far have been written.
  void close(uint64_t conn, uint16_t code, std::string reason, bool drain);
  /// Wakes the lws thread for `conn` with nothing to write (e.g. to resume reading).
  void wake(uint64_t conn);

  // ---- the lws thread ------------------------------------------------------------------------

  void open(uint64_t conn);
  void forget(uint64_t conn);
  /// Connections with something to write (or to close) since the last call.
  std::vector<uint64_t> take_dirty();
  /// Connections closed as slow consumers since the last call (also in take_dirty()): their
  /// close frame must go out without waiting for the socket to report room.
  std::vector<uint64_t> take_culled();
  /// Moves up to `max_frames` queued frames of `conn` into `into`; returns whether more remain.
  bool take(uint64_t conn, std::vector<out_frame>& into, size_t max_frames);
  /// Moves queued frames of `conn` into `into` while their total stays within `max_bytes` (at
  /// least one frame when any is queued); returns whether more remain.
  bool take_bytes(uint64_t conn, std::vector<out_frame>& into, size_t max_bytes);
  /// Takes the pending HTTP response of `conn`, if any.
  bool take_response(uint64_t conn, http_response& into);
  struct close_request {
    bool requested = false;
    uint16_t code = 0;
    std::string reason;
    bool drain = false;
  };
  close_request close_state(uint64_t conn);
  /// Bytes queued for `conn` (console, metrics).
  size_t queued_bytes(uint64_t conn);
  /// Releases the queue storage of connections with nothing queued (called a few times a second
  /// by the lws thread, so idle connections hold no queue storage).
  void trim_idle();

private:
  /// The frames of one connection. Storage is allocated by the first push and released by
  /// trim_idle() once drained: an empty std::deque still holds ~600 bytes, which every idle
  /// connection would keep; released on every drain instead, a busy connection would allocate
  /// and free it once per event.
  class frame_queue {
  public:
    bool empty() const { return !q_ || q_->empty(); }
    size_t size() const { return q_ ? q_->size() : 0; }
    out_frame& front() { return q_->front(); }
    void push_back(out_frame&& f) {
      if (!q_)
        q_ = std::make_unique<std::deque<out_frame>>();
      q_->push_back(std::move(f));
    }
    void pop_front() { q_->pop_front(); }
    void clear() { q_.reset(); }
    /// Releases the storage when nothing is queued.
    void release_if_empty() {
      if (q_ && q_->empty())
        q_.reset();
    }

  private:
    std::unique_ptr<std::deque<out_frame>> q_;
  };
  struct queue {
    frame_queue frames;
    size_t bytes = 0;       // everything queued
    size_t event_bytes = 0; // subscription event frames among them (held to the budget)
    std::unique_ptr<http_response> response; // HTTP only: set when a response is pending
    close_request close;
  };
  void mark_dirty_locked(uint64_t conn, std::unique_lock<std::mutex>& lock);
  /// Wakes the lws thread unless a wake-up is already pending; releases the lock.
  void wake_locked(std::unique_lock<std::mutex>& lock);
  /// push() without the lock and the wake-up; true when queued, sets *dirty when the
  /// connection needs the lws thread.
  bool push_locked(uint64_t conn, out_frame&& f, bool* dirty);

  size_t budget_;
  std::mutex mu_;
  std::unordered_map<uint64_t, queue> queues_;
  std::vector<uint64_t> dirty_;
  std::vector<uint64_t> culled_;
  bool wake_pending_ = false;
  waker waker_ = nullptr;
  void* waker_arg_ = nullptr;
};

using outbox_ptr = std::shared_ptr<outbox>;

} // namespace vigil
