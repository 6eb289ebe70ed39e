#pragma once
// The tenant as jobs see it: the generated base data plus an overlay of
// mutations (created, updated and deleted records, contract §4.3/§8). A
// tenant_state is immutable; a tenant_editor makes the next one, sharing every
// untouched part (objects, and chunks of rows within an object), so the
// service can hand each job one consistent snapshot
// (std::shared_ptr<const tenant_state>) while the I/O thread keeps mutating,
// and a mutation costs about one chunk of rows however large the overlay is.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/tenant.hpp"

namespace aquaduct::emulator {

// Deleted records are exported this long after their deletion (contract §3.1).
inline constexpr std::int64_t deleted_retention_s = 30 * 86400;

class tenant_state;
using tenant_snapshot = std::shared_ptr<const tenant_state>;

// A created or changed row, whole; a deleted row keeps its last values.
struct overlay_row {
  record values;
  std::optional<std::int64_t> deleted_at;  // unix seconds
};

// The mutations of one object. Rows are keyed by index (see tenant_generator)
// and grouped in chunks of chunk_rows consecutive indexes, each chunk shared
// between snapshots until a change to one of its rows copies it.
class object_overlay {
 public:
  static constexpr std::uint64_t chunk_rows = 64;

  std::uint64_t created() const { return created_; }  // rows appended after the base rows
  std::uint64_t deleted() const { return deleted_; }  // tombstones
  // The overlay's row `index`, or nullptr when the row is as generated.
  const overlay_row* find(std::uint64_t index) const;
  // Appends the index of every row the overlay has (changed, created or
  // deleted), in index order.
  void indexes(std::vector<std::uint64_t>& out) const;

 private:
  friend class tenant_editor;
  using chunk = std::map<std::uint64_t, overlay_row>;
  std::vector<std::shared_ptr<const chunk>> chunks_;  // by index / chunk_rows; null: untouched
  std::uint64_t created_ = 0;
  std::uint64_t deleted_ = 0;
};

class tenant_state {
 public:
  tenant_state(std::uint64_t seed, std::uint64_t scale, std::vector<burst_rows> bursts = {});

  const tenant_generator& generator() const { return gen_; }
  // Base rows plus created ones (deleted rows keep their index).
  std::uint64_t row_count(const object_def& obj) const;

  enum class row_status { live, deleted };
  // Fills `out` with row `index` (< row_count) as of this snapshot; a deleted
  // row keeps its last values, and `deleted_at` (if given) gets the time.
  row_status row(const object_def& obj, std::uint64_t index, record& out,
                 std::int64_t* deleted_at = nullptr) const;
  bool live(const object_def& obj, std::uint64_t index) const;  // index < row_count
  // The datetime field `field` (UpdatedDate) of row `index` without the rest
  // of the row: the service's index on UpdatedDate (contract §3.5).
  std::int64_t updated_at(const object_def& obj, std::uint64_t index, std::size_t field) const;
  // Index of a live or deleted row with this id, or nullopt.
  std::optional<std::uint64_t> find(const object_def& obj, std::string_view id) const;
  // The overlay of `obj` (nullptr when the object was never mutated).
  const object_overlay* overlay(const object_def& obj) const;

 private:
  friend class tenant_editor;
  tenant_generator gen_;
  // One entry per all_objects() slot; shared between snapshots until mutated.
  std::vector<std::shared_ptr<const object_overlay>> overlays_;
};

tenant_snapshot make_tenant(std::uint64_t seed, std::uint64_t scale, std::vector<burst_rows> bursts = {});

enum class mutation_op : std::uint8_t { create, update, remove };

// One applied change, as the history (tenant_history.hpp) logs it.
struct row_change {
  const object_def* obj = nullptr;
  std::uint64_t index = 0;
  mutation_op op = mutation_op::update;
};

// Builds the snapshot after `from` plus some changes, all stamped `at` (unix
// seconds): every touched row gets UpdatedDate = at (created rows also
// CreatedDate = at); deleted rows keep their values and are stamped deleted
// at `at`. `from` is never changed. Not thread-safe; the snapshots it
// returns are.
class tenant_editor {
 public:
  tenant_editor(const tenant_snapshot& from, std::int64_t at);

  // The state with the changes so far (valid until finish()).
  const tenant_state& state() const { return *next_; }
  std::int64_t at() const { return at_; }

  // A new row copying the values of row `like` (< row_count, so its
  // references point at existing records), under a fresh id; or, when the
  // object has no rows, generated. Returns its index.
  std::uint64_t create(const object_def& obj, std::uint64_t like);
  // `index` must be live. Updates mark the first free-text field " (updated)".
  void update(const object_def& obj, std::uint64_t index);
  void remove(const object_def& obj, std::uint64_t index);

  // The changes made, in order.
  const std::vector<row_change>& changes() const { return changes_; }
  // The new snapshot; the editor is spent.
  tenant_snapshot finish();

 private:
  overlay_row& edit(const object_def& obj, std::uint64_t index);

  std::shared_ptr<tenant_state> next_;
  std::int64_t at_;
  // Per object slot: this editor's own copy of the overlay (mutable), and the
  // chunks of it this editor already copied.
  std::vector<std::shared_ptr<object_overlay>> own_;
  std::vector<std::map<std::uint64_t, object_overlay::chunk*>> own_chunks_;
  std::vector<row_change> changes_;
  record scratch_;
};

// POST /_emulator/mutate (interfaces.md §6): create `create` new rows, update
// `update` random live rows (plus `update_ids`), delete `remove` random live
// rows (plus `delete_ids`).
struct mutation_request {
  std::string object;
  std::uint64_t create = 0;
  std::uint64_t update = 0;
  std::uint64_t remove = 0;
  std::vector<std::string> update_ids;
  std::vector<std::string> delete_ids;
};

struct mutation_outcome {
  tenant_snapshot state;  // the new snapshot (the overload that takes a snapshot)
  std::vector<std::string> created_ids, updated_ids, deleted_ids;
};

// Applies `req` to `ed` (stamped ed.at()); random rows are chosen
// deterministically from the state and the stamp. Returns false with `error`
// set (unknown object, unknown id, more rows asked than there are live ones)
// and then changes nothing.
bool apply_mutation(tenant_editor& ed, const mutation_request& req, mutation_outcome& out, std::string& error);
// The same on a fresh editor of `from` stamped `now_unix_s`; out.state is the
// new snapshot.
bool apply_mutation(const tenant_snapshot& from, const mutation_request& req, std::int64_t now_unix_s,
                    mutation_outcome& out, std::string& error);

}  // namespace aquaduct::emulator
