#include "proxy/buffer_pool.h"

#include <cstring>
#include <memory>

namespace kvroute::proxy {

// ---------------------------------------------------------------------------------------------
// BufferPool

BufferPool::BufferPool(std::size_t keep, std::size_t max_free)
    : free_(std::make_unique<char*[]>(max_free)), max_free_(max_free), decay_(keep) {}

BufferPool::~BufferPool() { drop(free_count_); }

char* BufferPool::allocate() {
  ++live_;
  return new char[kBlockSize];
}

void BufferPool::free_block(char* block) {
  --live_;
  delete[] block;
}

void BufferPool::drop(std::size_t n) {
  for (; n > 0 && free_count_ > 0; --n) {
    char* block = free_[--free_count_];
    KVROUTE_POOL_UNPOISON(block, kBlockSize);
    free_block(block);
  }
}

// ---------------------------------------------------------------------------------------------
// ReadBuffer

void ReadBuffer::make_room() {
  if (data_ == nullptr) {
    data_ = pool_.acquire();
    capacity_ = BufferPool::kBlockSize;
    return;
  }
  const std::size_t unread = end_ - begin_;
  if (begin_ > 0) {
    std::memmove(data_, data_ + begin_, unread);
    begin_ = 0;
    end_ = unread;
  }
  if (capacity_ - end_ >= kMinRoom) return;
  // Unread bytes fill the buffer (a request head larger than a block): a bigger one, off the pool.
  const std::size_t bigger = capacity_ * 2;
  auto grown = std::make_unique_for_overwrite<char[]>(bigger);
  std::memcpy(grown.get(), data_, unread);
  release();
  data_ = grown.release();
  capacity_ = bigger;
  end_ = unread;
}

// ---------------------------------------------------------------------------------------------
// BodyBufferPool

BodyBufferPool::BodyBufferPool(std::size_t padding, std::size_t keep, std::size_t max_free)
    : padding_(padding), max_free_(max_free), decay_(keep) {
  free_.reserve(max_free);
  for (std::size_t i = 0; i < max_free; ++i) free_.emplace_back(padding);
}

BodyBufferPool::~BodyBufferPool() { drop(free_count_); }

void BodyBufferPool::drop(std::size_t n) {
  for (; n > 0 && free_count_ > 0; --n) {
    PaddedBuffer& b = free_[--free_count_];
    KVROUTE_POOL_UNPOISON(b.data(), b.readable());
    b = PaddedBuffer(padding_);  // frees its storage
  }
}

}  // namespace kvroute::proxy
