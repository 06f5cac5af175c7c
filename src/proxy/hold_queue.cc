#include "proxy/hold_queue.h"

namespace kvroute::proxy {

void HoldQueue::push_back(HoldEntry& e) {
  e.prev_ = tail_;
  e.next_ = nullptr;
  e.offered_ = false;
  if (tail_ != nullptr) {
    tail_->next_ = &e;
  } else {
    head_ = &e;
  }
  tail_ = &e;
  e.queued_ = true;
  ++size_;
}

HoldEntry* HoldQueue::offer() {
  if (head_ == nullptr || head_->offered_) return nullptr;
  head_->offered_ = true;
  return head_;
}

HoldEntry* HoldQueue::remove(HoldEntry& e) {
  if (!e.queued_) return nullptr;
  const bool was_head = head_ == &e;
  if (e.prev_ != nullptr) {
    e.prev_->next_ = e.next_;
  } else {
    head_ = e.next_;
  }
  if (e.next_ != nullptr) {
    e.next_->prev_ = e.prev_;
  } else {
    tail_ = e.prev_;
  }
  e.prev_ = e.next_ = nullptr;
  e.queued_ = false;
  e.offered_ = false;
  --size_;
  return was_head ? offer() : nullptr;
}

}  // namespace kvroute::proxy
