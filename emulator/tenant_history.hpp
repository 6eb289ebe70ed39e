#pragma once
// The tenant's mutation log and the truth oracle built on it
// (GET /_emulator/truth, docs/emulator.md): every change since the seed's
// data, per object, in stamp order, so the state at any past instant can be
// rebuilt: which rows were alive and at which version (UpdatedDate), and
// every deletion. Pure data: no I/O, no clock.
#include <cstdint>
#include <utility>
#include <vector>

#include "emulator/tenant_state.hpp"

namespace aquaduct::emulator {

class tenant_history {
 public:
  // Logs `changes`, all stamped `at`. Stamps never go back (the service makes
  // them monotonic).
  void add(const std::vector<row_change>& changes, std::int64_t at);
  void clear();
  std::uint64_t size() const { return size_; }

  struct truth {
    // Every row alive at T with its UpdatedDate at T, in index order.
    std::vector<std::pair<std::uint64_t, std::int64_t>> live;
    // Every deletion logged, before and after T, in stamp order: index and time.
    std::vector<std::pair<std::uint64_t, std::int64_t>> deleted;
  };
  // The rows of `obj` as a job starting at `t` sees them: the generated data
  // plus every change stamped before `t` (none stamped at or after it).
  // O(rows of obj + its changes).
  truth at(const tenant_generator& gen, const object_def& obj, std::int64_t t) const;

 private:
  struct entry {
    std::int64_t at;
    std::uint64_t index;
    mutation_op op;
  };
  std::vector<std::vector<entry>> by_object_;  // by all_objects() slot
  std::uint64_t size_ = 0;
};

}  // namespace aquaduct::emulator
