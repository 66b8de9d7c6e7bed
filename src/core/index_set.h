// IndexSet: a set of ints kept as sorted, disjoint runs [first, last]. An array's pending tasks
// are mostly one run (or a few), so a million of them cost a few map nodes instead of a million
// (std::set<int> spends about 40 bytes an element). insert, erase and contains are O(log runs);
// iteration visits the ints in increasing order. Equal sets have equal runs (adjacent runs are
// always merged).
//
// Thread-compatible.
#pragma once

#include <cstddef>
#include <iterator>
#include <map>

namespace muster {

class IndexSet {
 public:
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    using pointer = const int*;
    using reference = int;
    const_iterator() = default;
    int operator*() const { return value_; }
    const_iterator& operator++() {
      if (value_ < run_->second) {
        ++value_;
      } else if (++run_ != end_) {
        value_ = run_->first;
      }
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const const_iterator& o) const {
      return run_ == o.run_ && (run_ == end_ || value_ == o.value_);
    }

   private:
    friend class IndexSet;
    using Runs = std::map<int, int>::const_iterator;
    const_iterator(Runs run, Runs end) : run_(run), end_(end), value_(run == end ? 0 : run->first) {}
    Runs run_{}, end_{};
    int value_ = 0;
  };

  // True if x was not in the set.
  bool insert(int x) {
    auto next = runs_.upper_bound(x);  // the first run that starts after x
    auto prev = next == runs_.begin() ? runs_.end() : std::prev(next);
    if (prev != runs_.end() && prev->second >= x) return false;
    const bool join_prev = prev != runs_.end() && prev->second == x - 1;
    const bool join_next = next != runs_.end() && next->first == x + 1;
    if (join_prev && join_next) {
      prev->second = next->second;
      runs_.erase(next);
    } else if (join_prev) {
      prev->second = x;
    } else if (join_next) {
      const int last = next->second;
      runs_.erase(next);
      runs_.emplace(x, last);
    } else {
      runs_.emplace(x, x);
    }
    ++size_;
    return true;
  }

  // True if x was in the set.
  bool erase(int x) {
    auto it = runs_.upper_bound(x);
    if (it == runs_.begin()) return false;
    --it;
    if (it->second < x) return false;
    const int first = it->first, last = it->second;
    if (first == last) {
      runs_.erase(it);
    } else if (x == first) {
      runs_.erase(it);
      runs_.emplace(x + 1, last);
    } else if (x == last) {
      it->second = x - 1;
    } else {
      it->second = x - 1;
      runs_.emplace(x + 1, last);
    }
    --size_;
    return true;
  }

  bool contains(int x) const {
    auto it = runs_.upper_bound(x);
    return it != runs_.begin() && std::prev(it)->second >= x;
  }
  void clear() {
    runs_.clear();
    size_ = 0;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t runs() const { return runs_.size(); }
  const_iterator begin() const { return const_iterator(runs_.begin(), runs_.end()); }
  const_iterator end() const { return const_iterator(runs_.end(), runs_.end()); }
  bool operator==(const IndexSet& o) const { return size_ == o.size_ && runs_ == o.runs_; }

 private:
  std::map<int, int> runs_;  // first -> last, disjoint and never adjacent
  size_t size_ = 0;
};

}  // namespace muster
