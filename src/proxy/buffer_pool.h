#pragma once
// What lets an idle client connection hold no read or body buffer: the worker's free list of 16 KiB
// read blocks (BufferPool); the read buffer a session fills from a socket and parses from the front
// (ReadBuffer: its storage is taken from the pool when a read needs it and given back when the
// session lets go of it); the free list of request body buffers (BodyBufferPool); and the list of the
// sessions that wait for their next request with a read, and so a block, pending (IdleReadList, most
// recent first: beyond a bound the oldest gives its block back and waits for readiness instead).
//
// The free lists follow demand (FreeListDecay): they keep what concurrent exchanges gave back, so a
// worker serving many exchanges at once does not allocate per exchange, and they return to the
// allocator what a period of exchanges did not need.
//
// One of each per worker thread; nothing here is locked. Internal to the proxy library.

#include <boost/asio/buffer.hpp>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/padded_buffer.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define KVROUTE_POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define KVROUTE_POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define KVROUTE_POOL_POISON(p, n) ((void)(p), (void)(n))
#define KVROUTE_POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace kvroute::proxy {

/// How a free list follows demand. Over each period of kPeriod acquisitions it notes the fewest
/// entries the list held; that many were never needed in the period, and half of them above `keep`
/// are given back at its end. A steady load thus keeps what it uses and allocates nothing, and the
/// surplus of a burst is returned within a few periods once the load falls. Not thread-safe.
class FreeListDecay {
 public:
  static constexpr std::uint32_t kPeriod = 4096;

  explicit FreeListDecay(std::size_t keep) : keep_(keep) {}

  /// After an acquisition that left `left` entries on the list: how many to give back now (0 except
  /// at the end of a period).
  std::size_t after_acquire(std::size_t left) {
    if (left < low_) low_ = left;
    if (++acquisitions_ < kPeriod) return 0;
    const std::size_t surplus = low_ > keep_ ? (low_ - keep_ + 1) / 2 : 0;
    acquisitions_ = 0;
    low_ = std::numeric_limits<std::size_t>::max();
    return surplus;
  }

 private:
  std::size_t keep_;
  std::size_t low_ = std::numeric_limits<std::size_t>::max();
  std::uint32_t acquisitions_ = 0;
};

/// Free list of fixed-size read blocks, at most `max_free` of them (a block given back beyond that
/// is freed), following demand (FreeListDecay). Blocks on the list are poisoned under
/// AddressSanitizer, so a stale use of a block that changed hands is reported. Not thread-safe: one
/// per worker thread.
class BufferPool {
 public:
  /// Size of every block: what one read asks of a socket (a few SSE events, a typical request or
  /// JSON answer in one read).
  static constexpr std::size_t kBlockSize = 16 * 1024;

  BufferPool(std::size_t keep, std::size_t max_free);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  /// Worker thread. A block of kBlockSize bytes (content unspecified): the most recently given back
  /// one, or a new one when the list is empty. Inline: it runs for every exchange.
  char* acquire() {
    char* block;
    if (free_count_ == 0) {
      block = allocate();
    } else {
      block = free_[--free_count_];
      KVROUTE_POOL_UNPOISON(block, kBlockSize);
    }
    if (const std::size_t surplus = decay_.after_acquire(free_count_)) drop(surplus);
    return block;
  }
  /// Worker thread. Takes back a block from acquire(): kept for reuse, or freed when the list holds
  /// `max_free` already. Never allocates (the list is sized up front).
  void release(char* block) {
    if (free_count_ == max_free_) {
      free_block(block);
      return;
    }
    KVROUTE_POOL_POISON(block, kBlockSize);
    free_[free_count_++] = block;
  }

  /// Blocks on the free list now.
  std::size_t free_blocks() const { return free_count_; }
  /// Blocks that exist now (in use and free): what the pool holds of the heap.
  std::size_t live_blocks() const { return live_; }

 private:
  char* allocate();
  void free_block(char* block);
  void drop(std::size_t n);

  std::unique_ptr<char*[]> free_;
  std::size_t free_count_ = 0;
  std::size_t max_free_;
  FreeListDecay decay_;
  std::size_t live_ = 0;
};

/// Bytes read from a socket and parsed from the front. Its storage is a pool block taken by the
/// first prepare() after release() (or construction); it grows past a block (a heap allocation,
/// twice the size each time) only when unread bytes fill it, e.g. a request head larger than a block.
/// Not thread-safe.
class ReadBuffer {
 public:
  explicit ReadBuffer(BufferPool& pool) : pool_(pool) {}
  ~ReadBuffer() { release(); }
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;

  /// The unread bytes.
  boost::asio::const_buffer data() const { return {data_ + begin_, end_ - begin_}; }
  std::string_view view() const { return {data_ + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  /// Whether it holds storage now (a pool block or a grown buffer).
  bool has_storage() const { return data_ != nullptr; }

  /// Room for the next read after the unread bytes: takes a block when it holds none; moves the
  /// unread bytes to the front, or grows, when less than kMinRoom is left after them. Valid until
  /// the next prepare(), release() or destruction.
  boost::asio::mutable_buffer prepare() {
    if (data_ == nullptr || capacity_ - end_ < kMinRoom) make_room();
    return {data_ + end_, capacity_ - end_};
  }
  /// Appends n bytes written into the room prepare() gave.
  void commit(std::size_t n) { end_ += n; }
  /// Drops n unread bytes from the front.
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  /// Drops every unread byte (the storage is kept).
  void clear() { begin_ = end_ = 0; }
  /// Gives the storage back (a block to the pool, a grown buffer to the allocator); unread bytes are
  /// dropped. The next prepare() takes a block again.
  void release() {
    if (data_ == nullptr) return;
    if (capacity_ == BufferPool::kBlockSize) {
      pool_.release(data_);
    } else {
      delete[] data_;
    }
    data_ = nullptr;
    capacity_ = begin_ = end_ = 0;
  }

  /// Less room than this after the unread bytes: prepare() compacts or grows first, so that one
  /// read can still bring a useful amount.
  static constexpr std::size_t kMinRoom = BufferPool::kBlockSize / 4;

 private:
  void make_room();

  BufferPool& pool_;
  char* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

/// Free list of request body buffers, at most `max_free` of them, following demand
/// (FreeListDecay). A buffer keeps its capacity (the caller decides which are worth keeping), so
/// the buffers of a steady workload stop growing. Contents are poisoned under AddressSanitizer
/// while on the list. Not thread-safe: one per worker thread.
class BodyBufferPool {
 public:
  BodyBufferPool(std::size_t padding, std::size_t keep, std::size_t max_free);
  ~BodyBufferPool();
  BodyBufferPool(const BodyBufferPool&) = delete;
  BodyBufferPool& operator=(const BodyBufferPool&) = delete;

  /// Worker thread. An empty buffer: the most recently given back one, else a new one without
  /// storage (it allocates on its first reserve).
  PaddedBuffer acquire() {
    if (free_count_ == 0) {
      decay_.after_acquire(0);
      return PaddedBuffer(padding_);
    }
    PaddedBuffer b = std::move(free_[--free_count_]);  // the slot is assigned again before any use
    KVROUTE_POOL_UNPOISON(b.data(), b.readable());
    if (const std::size_t surplus = decay_.after_acquire(free_count_)) drop(surplus);
    return b;
  }
  /// Worker thread. Takes a buffer back, emptied; freed when the list holds `max_free` already (or
  /// when it has no storage: nothing to keep). Never allocates (the list is sized up front).
  void release(PaddedBuffer&& buffer) {
    if (buffer.readable() == 0 || free_count_ == max_free_) return;
    buffer.clear();
    KVROUTE_POOL_POISON(buffer.data(), buffer.readable());
    free_[free_count_++] = std::move(buffer);
  }

  std::size_t free_buffers() const { return free_count_; }

 private:
  void drop(std::size_t n);

  std::size_t padding_;
  std::size_t max_free_;
  FreeListDecay decay_;
  std::vector<PaddedBuffer> free_;  ///< max_free slots, [0, free_count_) in use; the others hold no storage
  std::size_t free_count_ = 0;
};

/// The sessions of a worker waiting for their next request with a read pending (so with a block),
/// most recently started first. A session links its hook when it starts waiting and unlinks it when
/// the read completes; the bound on their number (kMaxIdleReads) is kept by the session that links
/// itself: it tells the oldest one to give its block back. Intrusive, no allocation. Not
/// thread-safe: one per worker thread.
class IdleReadList {
 public:
  struct Hook {
    Hook* prev = nullptr;
    Hook* next = nullptr;
    bool linked = false;
  };

  /// Sessions that may wait for a request with a block each. A connection keeps its block and its
  /// pending read from one request to the next as long as fewer than this many other connections
  /// of its worker went idle after it (so a busy connection never pays a system call for parking);
  /// the others wait for readiness without one. 128 covers the benchmark's 64 busy connections per
  /// worker with room, and bounds what idle connections hold to 2 MiB per worker.
  static constexpr std::size_t kMaxIdleReads = 128;

  /// Links h as the most recent (h must not be linked).
  void push_front(Hook& h) {
    assert(!h.linked);
    h.prev = nullptr;
    h.next = head_;
    if (head_ != nullptr) {
      head_->prev = &h;
    } else {
      tail_ = &h;
    }
    head_ = &h;
    h.linked = true;
    ++size_;
  }
  /// Unlinks h; nothing when it is not linked.
  void remove(Hook& h) {
    if (!h.linked) return;
    if (h.prev != nullptr) {
      h.prev->next = h.next;
    } else {
      head_ = h.next;
    }
    if (h.next != nullptr) {
      h.next->prev = h.prev;
    } else {
      tail_ = h.prev;
    }
    h.prev = h.next = nullptr;
    h.linked = false;
    --size_;
  }
  /// The least recent hook, or null.
  Hook* oldest() const { return tail_; }
  std::size_t size() const { return size_; }

 private:
  Hook* head_ = nullptr;
  Hook* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace kvroute::proxy
