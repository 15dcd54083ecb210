// sluice/flow/detail/first_inline_vector.hpp: a key's open windows in keyed_windows.hpp.
//
// A vector whose single element lives inside it: a tumbling or count window (one per key) costs
// no allocation and no pointer to follow per event, and the whole is smaller than Boost's
// small_vector<T, 1> (no capacity, no pointer into itself): with keyed_windows' count windows a
// key's entry is one cache line. Two elements or more live in a std::vector on the heap (sliding
// windows, several open sessions) until it is empty again.
//
// Only what keyed_windows uses: iteration, front/back, insert and erase at a position, clear.
// Move-only; iterators are pointers, invalidated by insert, erase and moves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluice::flow::detail {

template <class T>
class first_inline_vector {
 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  first_inline_vector() noexcept = default;
  first_inline_vector(first_inline_vector&& o) noexcept(std::is_nothrow_move_constructible_v<T>) { take(o); }
  first_inline_vector& operator=(first_inline_vector&& o) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &o) {
      clear();
      take(o);
    }
    return *this;
  }
  first_inline_vector(const first_inline_vector&) = delete;
  first_inline_vector& operator=(const first_inline_vector&) = delete;
  ~first_inline_vector() { clear(); }

  T* begin() noexcept { return more_ ? more_->data() : inline_ptr(); }
  T* end() noexcept { return begin() + size_; }
  const T* begin() const noexcept { return more_ ? more_->data() : inline_ptr(); }
  const T* end() const noexcept { return begin() + size_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T& front() noexcept { return *begin(); }
  T& back() noexcept { return begin()[size_ - 1]; }
  /// The last element, or null when empty.
  T* last() noexcept { return more_ ? &more_->back() : (size_ != 0 ? inline_ptr() : nullptr); }

  /// Inserts `v` before `at`; returns where it is.
  T* insert(const T* at, T&& v) {
    if (!more_ && size_ == 0) {
      ::new (static_cast<void*>(inline_ptr())) T(std::move(v));
      size_ = 1;
      return inline_ptr();
    }
    const auto i = static_cast<std::size_t>(at - begin());
    if (!more_) {
      auto heap = std::make_unique<std::vector<T>>();
      heap->reserve(4);
      heap->push_back(std::move(*inline_ptr()));
      inline_ptr()->~T();
      more_ = std::move(heap);
    }
    more_->insert(more_->begin() + static_cast<std::ptrdiff_t>(i), std::move(v));
    ++size_;
    return more_->data() + i;
  }

  /// Erases `at`; returns the position after it.
  T* erase(const T* at) { return erase(at, at + 1); }

  /// Erases [from, to); returns the position after them.
  T* erase(const T* from, const T* to) {
    const auto i = static_cast<std::size_t>(from - begin());
    const auto n = static_cast<std::size_t>(to - from);
    if (n == 0) return begin() + i;
    if (!more_) {  // the inline element
      clear();
      return inline_ptr();
    }
    more_->erase(more_->begin() + static_cast<std::ptrdiff_t>(i), more_->begin() + static_cast<std::ptrdiff_t>(i + n));
    size_ -= static_cast<std::uint32_t>(n);
    if (size_ == 0) {
      more_.reset();
      return inline_ptr();
    }
    return more_->data() + i;
  }

  void clear() noexcept {
    if (more_) {
      more_.reset();
    } else if (size_ != 0) {
      inline_ptr()->~T();
    }
    size_ = 0;
  }

 private:
  T* inline_ptr() noexcept { return std::launder(reinterpret_cast<T*>(first_)); }
  const T* inline_ptr() const noexcept { return std::launder(reinterpret_cast<const T*>(first_)); }

  /// Takes `o`'s elements (this one is empty); `o` is left empty.
  void take(first_inline_vector& o) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (o.more_) {
      more_ = std::move(o.more_);
    } else if (o.size_ != 0) {
      ::new (static_cast<void*>(inline_ptr())) T(std::move(*o.inline_ptr()));
      o.inline_ptr()->~T();
    }
    size_ = o.size_;
    o.size_ = 0;
  }

  alignas(T) unsigned char first_[sizeof(T)];
  std::unique_ptr<std::vector<T>> more_;  // set while two elements or more (then it holds them all)
  std::uint32_t size_ = 0;
};

}  // namespace sluice::flow::detail
