#pragma once
// The tenant as jobs see it: the generated base data plus an overlay of
// mutations (created, updated and deleted records, contract §4.3/§8). A
// tenant_state is immutable; a mutation makes a new one that shares the
// untouched parts, so the service can hand each job one consistent snapshot
// (std::shared_ptr<const tenant_state>) while the I/O thread mutates.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/tenant.hpp"

namespace aquaduct::emulator {

// Deleted-record history is kept this long (contract §3.1).
inline constexpr std::int64_t deleted_retention_s = 30 * 86400;

class tenant_state;
using tenant_snapshot = std::shared_ptr<const tenant_state>;

// The mutations of one object. Rows are keyed by index (see tenant_generator).
struct object_overlay {
  std::uint64_t created = 0;                         // rows appended after the base rows
  std::map<std::uint64_t, record> rows;              // created or updated rows, whole
  std::map<std::uint64_t, std::int64_t> deleted_at;  // tombstones: index -> unix seconds
};

class tenant_state {
 public:
  tenant_state(std::uint64_t seed, std::uint64_t scale);

  const tenant_generator& generator() const { return gen_; }
  // Base rows plus created ones (deleted rows keep their index).
  std::uint64_t row_count(const object_def& obj) const;

  enum class row_status { live, deleted };
  // Fills `out` with row `index` (< row_count) as of this snapshot; a deleted
  // row keeps its last values, and `deleted_at` (if given) gets the time.
  row_status row(const object_def& obj, std::uint64_t index, record& out,
                 std::int64_t* deleted_at = nullptr) const;
  // Index of a live or deleted row with this id, or nullopt.
  std::optional<std::uint64_t> find(const object_def& obj, std::string_view id) const;
  // The overlay of `obj` (nullptr when the object was never mutated).
  const object_overlay* overlay(const object_def& obj) const;

 private:
  friend struct mutation_access;
  tenant_generator gen_;
  // One entry per all_objects() slot; shared between snapshots until mutated.
  std::vector<std::shared_ptr<const object_overlay>> overlays_;
};

tenant_snapshot make_tenant(std::uint64_t seed, std::uint64_t scale);

// POST /_emulator/mutate (interfaces.md §6): create `create` new rows, update
// `update` random live rows (plus `update_ids`), delete `remove` random live
// rows (plus `delete_ids`). Every touched row gets UpdatedDate = now (created
// rows also CreatedDate = now); deleted rows keep their values and are stamped
// deleted at `now`.
struct mutation_request {
  std::string object;
  std::uint64_t create = 0;
  std::uint64_t update = 0;
  std::uint64_t remove = 0;
  std::vector<std::string> update_ids;
  std::vector<std::string> delete_ids;
};

struct mutation_outcome {
  tenant_snapshot state;  // the new snapshot
  std::vector<std::string> created_ids, updated_ids, deleted_ids;
};

// Returns false with `error` set (unknown object, unknown id, more rows asked
// than there are live ones); `from` is never changed.
bool apply_mutation(const tenant_snapshot& from, const mutation_request& req, std::int64_t now_unix_s,
                    mutation_outcome& out, std::string& error);

}  // namespace aquaduct::emulator
