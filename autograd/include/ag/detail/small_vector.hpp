// SmallVector<T, N>: a vector that keeps up to N elements inline, and can adopt a buffer
// it does not own (the graph's nodes put their edges in the same allocation as the node
// itself; see ops/record.hpp). Internal; it backs ag::edge_list.
//
// What it represents: a sequence of T in one of three places — inline (capacity N, no
// allocation), an adopted buffer (capacity fixed at adoption, never freed here), or the
// heap (pool_allocate, grown by doubling). Growing past an inline or adopted buffer moves
// the elements to the heap. It offers the part of std::vector's interface the library
// uses: size, indexing, iteration, push_back/emplace_back, reserve, resize, assign, clear.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <new>
#include <type_traits>
#include <utility>

namespace ag::detail {

// Graph bookkeeping goes through tbbmalloc, like the tensors themselves (see
// runtime/pool.hpp for why); these keep TBB out of the headers.
void* pool_allocate(size_t bytes);
void pool_deallocate(void* p) noexcept;

template <class T, size_t N>
class SmallVector {
 public:
  using value_type = T;
  using size_type = size_t;
  using iterator = T*;
  using const_iterator = const T*;
  using reference = T&;
  using const_reference = const T&;

  SmallVector() noexcept : data_(inline_ptr()), cap_(static_cast<uint32_t>(N)) {}
  static_assert(N < (1u << 31), "SmallVector: inline capacity too large");
  SmallVector(std::initializer_list<T> v) : SmallVector() { assign(v.begin(), v.end()); }
  SmallVector(const SmallVector& o) : SmallVector() { assign(o.begin(), o.end()); }
  SmallVector(SmallVector&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : SmallVector() { take(o); }
  SmallVector& operator=(const SmallVector& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  SmallVector& operator=(SmallVector&& o) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &o) {
      clear();
      free_heap();
      data_ = inline_ptr();
      cap_ = static_cast<uint32_t>(N);
      take(o);
    }
    return *this;
  }
  ~SmallVector() {
    clear();
    free_heap();
  }

  // Uses `buffer` (room for `capacity` elements, not owned) instead of the inline space.
  // Only on an empty vector that has not grown to the heap.
  void adopt(void* buffer, size_t capacity) noexcept {
    data_ = static_cast<T*>(buffer);
    cap_ = static_cast<uint32_t>(capacity);
  }

  size_t size() const noexcept { return size_; }
  size_t capacity() const noexcept { return cap_ & ~kHeap; }
  bool empty() const noexcept { return size_ == 0; }
  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  iterator begin() noexcept { return data_; }
  iterator end() noexcept { return data_ + size_; }
  const_iterator begin() const noexcept { return data_; }
  const_iterator end() const noexcept { return data_ + size_; }
  T& operator[](size_t i) noexcept { return data_[i]; }
  const T& operator[](size_t i) const noexcept { return data_[i]; }
  T& front() noexcept { return data_[0]; }
  const T& front() const noexcept { return data_[0]; }
  T& back() noexcept { return data_[size_ - 1]; }
  const T& back() const noexcept { return data_[size_ - 1]; }

  void reserve(size_t n) {
    if (n > capacity()) grow(n);
  }
  template <class... A>
  T& emplace_back(A&&... args) {
    if (size_ == capacity()) grow(size_ ? 2 * size_t{size_} : 4);
    T* p = ::new (static_cast<void*>(data_ + size_)) T(std::forward<A>(args)...);
    ++size_;
    return *p;
  }
  void push_back(const T& v) { emplace_back(v); }
  void push_back(T&& v) { emplace_back(std::move(v)); }
  void pop_back() noexcept {
    --size_;
    data_[size_].~T();
  }
  void clear() noexcept {
    for (size_t i = size_; i-- > 0;) data_[i].~T();
    size_ = 0;
  }
  void resize(size_t n) {
    reserve(n);
    while (size_ < n) emplace_back();
    while (size_ > n) pop_back();
  }
  template <class It>
  void assign(It first, It last) {
    clear();
    reserve(static_cast<size_t>(std::distance(first, last)));
    for (; first != last; ++first) emplace_back(*first);
  }

 private:
  // The high bit of cap_ says the buffer is on the heap (ours to free); inline and
  // adopted buffers are not.
  static constexpr uint32_t kHeap = 1u << 31;
  T* inline_ptr() noexcept {
    if constexpr (N == 0) return nullptr;
    else return reinterpret_cast<T*>(&inline_);
  }
  bool on_heap() const noexcept { return (cap_ & kHeap) != 0; }
  void free_heap() noexcept {
    if (on_heap()) pool_deallocate(data_);
  }
  void grow(size_t n) {
    T* p = static_cast<T*>(pool_allocate(n * sizeof(T)));
    for (size_t i = 0; i < size_; ++i) {
      ::new (static_cast<void*>(p + i)) T(std::move(data_[i]));
      data_[i].~T();
    }
    free_heap();
    data_ = p;
    cap_ = static_cast<uint32_t>(n) | kHeap;
  }
  void take(SmallVector& o) {
    if (o.on_heap()) {  // steal the buffer
      data_ = o.data_;
      cap_ = o.cap_;
      size_ = o.size_;
      o.data_ = o.inline_ptr();
      o.cap_ = static_cast<uint32_t>(N);
      o.size_ = 0;
      return;
    }
    reserve(o.size_);
    for (size_t i = 0; i < o.size_; ++i) emplace_back(std::move(o.data_[i]));
    o.clear();
  }

  struct Empty {};
  struct alignas(T) Inline {
    unsigned char bytes[N ? N * sizeof(T) : 1];
  };
  T* data_;
  uint32_t size_ = 0;
  uint32_t cap_;
  [[no_unique_address]] std::conditional_t<N == 0, Empty, Inline> inline_;
};

}  // namespace ag::detail
