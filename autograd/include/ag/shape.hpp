// ag::Shape — the sizes (or strides) of a tensor: a small vector of int64_t.
//
// What it represents: a sequence of dimensions, stored inline for up to 6 of them (every
// tensor a small network uses), on the heap beyond that. Making a tensor therefore
// allocates no shape or stride arrays. It converts to and from std::vector<int64_t> and
// compares equal to one with the same values, so code written for libtorch's
// std::vector-like sizes keeps working: `t.shape() == std::vector<int64_t>{2, 3}`.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iosfwd>
#include <vector>

namespace ag {

class Shape {
 public:
  using value_type = int64_t;
  using size_type = size_t;
  using iterator = int64_t*;
  using const_iterator = const int64_t*;
  static constexpr size_t kInline = 6;

  Shape() = default;
  Shape(std::initializer_list<int64_t> v) { assign(v.begin(), v.end()); }
  Shape(const std::vector<int64_t>& v) { assign(v.data(), v.data() + v.size()); }  // NOLINT: implicit
  explicit Shape(size_t n) { resize(n); }
  Shape(size_t n, int64_t value) {
    resize(n);
    std::fill(begin(), end(), value);
  }
  template <class It, class = decltype(*std::declval<It>())>
  Shape(It first, It last) {
    reserve(static_cast<size_t>(std::distance(first, last)));
    for (; first != last; ++first) push_back(static_cast<int64_t>(*first));
  }
  Shape(const Shape& o) { assign(o.begin(), o.end()); }
  Shape(Shape&& o) noexcept { take(o); }
  Shape& operator=(const Shape& o) {
    if (this != &o) {
      size_ = 0;
      assign(o.begin(), o.end());
    }
    return *this;
  }
  Shape& operator=(Shape&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  ~Shape() { release(); }

  operator std::vector<int64_t>() const { return std::vector<int64_t>(begin(), end()); }  // NOLINT
  std::vector<int64_t> vec() const { return *this; }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t* data() { return heap_ ? heap_ : inline_; }
  const int64_t* data() const { return heap_ ? heap_ : inline_; }
  iterator begin() { return data(); }
  iterator end() { return data() + size_; }
  const_iterator begin() const { return data(); }
  const_iterator end() const { return data() + size_; }
  int64_t& operator[](size_t i) { return data()[i]; }
  int64_t operator[](size_t i) const { return data()[i]; }
  int64_t& front() { return data()[0]; }
  int64_t front() const { return data()[0]; }
  int64_t& back() { return data()[size_ - 1]; }
  int64_t back() const { return data()[size_ - 1]; }

  void reserve(size_t n) {
    if (n <= capacity()) return;
    auto* p = new int64_t[n];
    std::memcpy(p, data(), size_ * sizeof(int64_t));
    delete[] heap_;
    heap_ = p;
    cap_ = n;
  }
  void resize(size_t n, int64_t value = 0) {
    reserve(n);
    for (size_t i = size_; i < n; ++i) data()[i] = value;
    size_ = n;
  }
  void clear() { size_ = 0; }
  void push_back(int64_t v) {
    if (size_ == capacity()) reserve(capacity() * 2);
    data()[size_++] = v;
  }
  void pop_back() { --size_; }
  iterator insert(const_iterator pos, int64_t v) {
    const size_t i = static_cast<size_t>(pos - begin());
    push_back(0);
    int64_t* d = data();
    std::memmove(d + i + 1, d + i, (size_ - 1 - i) * sizeof(int64_t));
    d[i] = v;
    return d + i;
  }
  iterator erase(const_iterator pos) {
    const size_t i = static_cast<size_t>(pos - begin());
    int64_t* d = data();
    std::memmove(d + i, d + i + 1, (size_ - 1 - i) * sizeof(int64_t));
    --size_;
    return d + i;
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }
  friend bool operator==(const Shape& a, const std::vector<int64_t>& b) {
    return a.size_ == b.size() && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator==(const std::vector<int64_t>& b, const Shape& a) { return a == b; }
  friend bool operator!=(const Shape& a, const std::vector<int64_t>& b) { return !(a == b); }
  friend bool operator!=(const std::vector<int64_t>& b, const Shape& a) { return !(a == b); }

 private:
  size_t capacity() const { return heap_ ? cap_ : kInline; }
  template <class It>
  void assign(It first, It last) {
    reserve(static_cast<size_t>(last - first));
    size_ = static_cast<size_t>(last - first);
    std::copy(first, last, data());
  }
  void take(Shape& o) {
    size_ = o.size_;
    if (o.heap_) {
      heap_ = o.heap_;
      cap_ = o.cap_;
      o.heap_ = nullptr;
    } else {
      std::memcpy(inline_, o.inline_, size_ * sizeof(int64_t));
    }
    o.size_ = 0;
  }
  void release() {
    delete[] heap_;
    heap_ = nullptr;
  }

  int64_t inline_[kInline] = {};
  int64_t* heap_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

// Prints "[2, 3]" (gtest and error messages use it).
std::ostream& operator<<(std::ostream& os, const Shape& s);

}  // namespace ag
