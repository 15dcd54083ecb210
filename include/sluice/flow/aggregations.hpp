// sluice/flow/aggregations.hpp: what a window computes from its values.
//
// An aggregation is a small value type with
//   value_type, acc_type, result_type;
//   acc_type init();                              // an empty window's state
//   void add(acc_type&, const value_type&, stamp);  // one more value (stamp: event time, arrival)
//   void merge(acc_type& into, acc_type&& from);  // two sessions became one
//   result_type result(const acc_type&);          // the window's result (also for partial ones)
// Methods may be non-const (a reducer may keep a compiled program). The built-ins below cover
// count, sum, min, max, mean, first, last and collect; `reduce_of` hands a function the window's
// values for anything else. `first` and `last` go by event time, ties by arrival; `collect` gives
// the values in arrival order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include <sluice/flow/window_spec.hpp>

namespace sluice::flow {

template <class V>
struct count_of {
  using value_type = V;
  using acc_type = std::uint64_t;
  using result_type = std::uint64_t;
  acc_type init() const noexcept { return 0; }
  void add(acc_type& a, const V&, stamp) const noexcept { ++a; }
  void merge(acc_type& a, acc_type&& b) const noexcept { a += b; }
  result_type result(const acc_type& a) const noexcept { return a; }
};

template <class V>
struct sum_of {
  using value_type = V;
  using acc_type = V;
  using result_type = V;
  acc_type init() const { return V{}; }
  void add(acc_type& a, const V& v, stamp) const { a += v; }
  void merge(acc_type& a, acc_type&& b) const { a += b; }
  result_type result(const acc_type& a) const { return a; }
};

/// The smallest (Less) or largest value; an empty window (only a partial result can be) has none.
template <class V, bool Largest>
struct extreme_of {
  using value_type = V;
  using acc_type = std::optional<V>;
  using result_type = std::optional<V>;
  acc_type init() const { return std::nullopt; }
  void add(acc_type& a, const V& v, stamp) const {
    if (!a || (Largest ? *a < v : v < *a)) a = v;
  }
  void merge(acc_type& a, acc_type&& b) const {
    if (b) add(a, *b, {});
  }
  result_type result(const acc_type& a) const { return a; }
};
template <class V>
using min_of = extreme_of<V, false>;
template <class V>
using max_of = extreme_of<V, true>;

template <class V>
struct mean_of {
  using value_type = V;
  struct acc_type {
    double sum = 0;
    std::uint64_t n = 0;
  };
  using result_type = double;
  acc_type init() const noexcept { return {}; }
  void add(acc_type& a, const V& v, stamp) const {
    a.sum += static_cast<double>(v);
    ++a.n;
  }
  void merge(acc_type& a, acc_type&& b) const noexcept {
    a.sum += b.sum;
    a.n += b.n;
  }
  result_type result(const acc_type& a) const noexcept { return a.n == 0 ? 0.0 : a.sum / static_cast<double>(a.n); }
};

/// The value with the earliest (or, Latest, the latest) stamp.
template <class V, bool Latest>
struct edge_of {
  using value_type = V;
  using acc_type = std::optional<std::pair<stamp, V>>;
  using result_type = std::optional<V>;
  acc_type init() const { return std::nullopt; }
  void add(acc_type& a, const V& v, stamp s) const {
    if (!a || (Latest ? !(s < a->first) : s < a->first)) a.emplace(s, v);
  }
  void merge(acc_type& a, acc_type&& b) const {
    if (b) add(a, b->second, b->first);
  }
  result_type result(const acc_type& a) const {
    if (!a) return std::nullopt;
    return a->second;
  }
};
template <class V>
using first_of = edge_of<V, false>;
template <class V>
using last_of = edge_of<V, true>;

/// The window's values in arrival order.
template <class V>
struct collect_of {
  using value_type = V;
  using acc_type = std::vector<std::pair<std::uint64_t, V>>;
  using result_type = std::vector<V>;
  acc_type init() const { return {}; }
  void add(acc_type& a, const V& v, stamp s) const { a.emplace_back(s.seq, v); }
  void merge(acc_type& a, acc_type&& b) const {
    a.insert(a.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
    // Merged sessions: back into arrival order (each part already is).
    std::inplace_merge(a.begin(), a.end() - static_cast<std::ptrdiff_t>(b.size()), a.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
  }
  result_type result(const acc_type& a) const {
    result_type out;
    out.reserve(a.size());
    for (const auto& [seq, v] : a) out.push_back(v);
    return out;
  }
};

/// Anything else: `f(values)` on the window's values in arrival order (kept until it closes).
template <class V, class F>
struct reduce_of {
  using value_type = V;
  using acc_type = typename collect_of<V>::acc_type;
  using result_type = decltype(std::declval<F&>()(std::declval<std::vector<V>>()));
  F f;
  acc_type init() const { return {}; }
  void add(acc_type& a, const V& v, stamp s) const { collect_of<V>{}.add(a, v, s); }
  void merge(acc_type& a, acc_type&& b) const { collect_of<V>{}.merge(a, std::move(b)); }
  result_type result(const acc_type& a) { return f(collect_of<V>{}.result(a)); }
};

}  // namespace sluice::flow
