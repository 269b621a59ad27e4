// Ceph's C++ API (librados.hpp, librbd.hpp): every file of backyd that uses it includes it from
// here, never directly.
//
// Why: Ceph 16's rados/buffer.h (Debian 12's librados-dev) is no valid C++20 as clang 14 reads
// it. buffers_t::insert_after compares a const_iterator with an iterator (`it == end()`), and
// C++20's reversed operator== candidates make the two member operator== (one per constness)
// equally good: a hard error in a header we do not own. gcc accepts it, and so does clang 16,
// which implements P2468R2 (a reversed == candidate is dropped when a matching != exists).
// For the clang that does not, the constrained template below is a better match for exactly
// that comparison (two buffers_iterator of one family, differing in constness), found by
// argument-dependent lookup in ceph::buffer; it compares both as const_iterator, which is what
// either member would have done. It must be declared before buffer.h is first read, hence this
// header.
#pragma once

#if defined(__clang__) && __clang_major__ < 16
#include <type_traits>

namespace ceph::buffer {

template <class L, class R>
requires requires {
  typename L::citer_t;
  typename R::citer_t;
  requires std::is_same_v<typename L::citer_t, typename R::citer_t>;
  requires !std::is_same_v<L, R>;
}
bool operator==(const L& l, const R& r) {
  using Const = typename L::citer_t;
  return Const(l) == Const(r);
}

}  // namespace ceph::buffer
#endif

#include <rados/librados.hpp>
#include <rbd/librbd.hpp>
