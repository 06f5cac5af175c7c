#pragma once
// A growable byte buffer that always keeps `padding` spare bytes after its content, so the request
// body can be parsed in place by simdjson (openai::RequestParser reads up to SIMDJSON_PADDING bytes
// past the end). Reused from request to request: clear() keeps the memory. Not thread-safe.

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace kvroute::proxy {

class PaddedBuffer {
 public:
  explicit PaddedBuffer(std::size_t padding) : padding_(padding) {}

  void clear() { size_ = 0; }
  /// Makes room for n bytes in all (plus the padding) without changing the content.
  void reserve(std::size_t n) {
    if (n + padding_ <= capacity_) return;
    std::size_t cap = capacity_ == 0 ? 4096 : capacity_;
    while (cap < n + padding_) cap *= 2;
    auto bigger = std::make_unique_for_overwrite<char[]>(cap);
    if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
    std::memset(bigger.get() + size_, 0, cap - size_);  // padding content is read, never trusted
    data_ = std::move(bigger);
    capacity_ = cap;
  }
  void append(std::string_view bytes) {
    reserve(size_ + bytes.size());
    std::memcpy(data_.get() + size_, bytes.data(), bytes.size());
    size_ += bytes.size();
  }

  const char* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  /// Bytes readable from data(): size() plus at least the padding (0 before the first reserve).
  std::size_t readable() const { return capacity_; }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  std::size_t padding_;
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace kvroute::proxy
