#include "emulator/tenant_state.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace aquaduct::emulator {

namespace {

std::size_t slot_of(const object_def& obj) { return static_cast<std::size_t>(obj.char_type_id - 1); }

std::size_t field_index(const object_def& obj, std::string_view name) {
  return *find_field(obj, name);  // every object has the common fields
}

// The first free-text field other than the id-like ones; mutations mark it.
std::optional<std::size_t> marker_field(const object_def& obj) {
  for (std::size_t i = 1; i < obj.fields.size(); ++i)
    if (obj.fields[i].type == field_type::text && !obj.fields[i].name.ends_with("Number")) return i;
  return std::nullopt;
}

field_value datetime(std::int64_t unix_s) { return field_value{field_value::kind::datetime, unix_s, {}}; }

}  // namespace

const overlay_row* object_overlay::find(std::uint64_t index) const {
  const std::uint64_t c = index / chunk_rows;
  if (c >= chunks_.size() || !chunks_[c]) return nullptr;
  const auto it = chunks_[c]->find(index);
  return it == chunks_[c]->end() ? nullptr : &it->second;
}

void object_overlay::indexes(std::vector<std::uint64_t>& out) const {
  for (const auto& c : chunks_)
    if (c)
      for (const auto& [index, row] : *c) out.push_back(index);
}

tenant_state::tenant_state(std::uint64_t seed, std::uint64_t scale, std::vector<burst_rows> bursts)
    : gen_(seed, scale, std::move(bursts)), overlays_(all_objects().size()) {}

tenant_snapshot make_tenant(std::uint64_t seed, std::uint64_t scale, std::vector<burst_rows> bursts) {
  return std::make_shared<const tenant_state>(seed, scale, std::move(bursts));
}

const object_overlay* tenant_state::overlay(const object_def& obj) const { return overlays_[slot_of(obj)].get(); }

std::uint64_t tenant_state::row_count(const object_def& obj) const {
  const object_overlay* o = overlay(obj);
  return gen_.base_count(obj) + (o != nullptr ? o->created() : 0);
}

tenant_state::row_status tenant_state::row(const object_def& obj, std::uint64_t index, record& out,
                                           std::int64_t* deleted_at) const {
  const object_overlay* o = overlay(obj);
  const overlay_row* r = o != nullptr ? o->find(index) : nullptr;
  if (r == nullptr) {
    gen_.generate(obj, index, out);
    return row_status::live;
  }
  out = r->values;
  if (!r->deleted_at) return row_status::live;
  if (deleted_at != nullptr) *deleted_at = *r->deleted_at;
  return row_status::deleted;
}

std::int64_t tenant_state::updated_at(const object_def& obj, std::uint64_t index, std::size_t field) const {
  const object_overlay* o = overlay(obj);
  const overlay_row* r = o != nullptr ? o->find(index) : nullptr;
  return r != nullptr ? r->values[field].i : gen_.base_updated(obj, index);
}

bool tenant_state::live(const object_def& obj, std::uint64_t index) const {
  const object_overlay* o = overlay(obj);
  const overlay_row* r = o != nullptr ? o->find(index) : nullptr;
  return r == nullptr || !r->deleted_at;
}

std::optional<std::uint64_t> tenant_state::find(const object_def& obj, std::string_view id) const {
  const auto index = tenant_generator::index_of_id(obj, id);
  if (!index || *index >= row_count(obj) || gen_.make_id(obj, *index) != id) return std::nullopt;
  return index;
}

// ---------------------------------------------------------------- editor

tenant_editor::tenant_editor(const tenant_snapshot& from, std::int64_t at)
    : next_(std::make_shared<tenant_state>(*from)),
      at_(at),
      own_(next_->overlays_.size()),
      own_chunks_(next_->overlays_.size()) {}

overlay_row& tenant_editor::edit(const object_def& obj, std::uint64_t index) {
  const std::size_t slot = slot_of(obj);
  auto& ov = own_[slot];
  if (!ov) {
    const auto& shared = next_->overlays_[slot];
    ov = shared ? std::make_shared<object_overlay>(*shared) : std::make_shared<object_overlay>();
    next_->overlays_[slot] = ov;  // `next_` reads through it from here on
  }
  const std::uint64_t c = index / object_overlay::chunk_rows;
  auto& mine = own_chunks_[slot];
  auto it = mine.find(c);
  if (it == mine.end()) {
    if (ov->chunks_.size() <= c) ov->chunks_.resize(c + 1);
    const auto& shared = ov->chunks_[c];
    auto copy = shared ? std::make_shared<object_overlay::chunk>(*shared) : std::make_shared<object_overlay::chunk>();
    it = mine.emplace(c, copy.get()).first;
    ov->chunks_[c] = std::move(copy);
  }
  object_overlay::chunk& ch = *it->second;
  auto row = ch.find(index);
  if (row == ch.end()) {
    row = ch.emplace(index, overlay_row{}).first;
    next_->gen_.generate(obj, index, row->second.values);
  }
  return row->second;
}

std::uint64_t tenant_editor::create(const object_def& obj, std::uint64_t like) {
  const std::uint64_t total = next_->row_count(obj);
  const std::uint64_t index = total;
  if (total > 0) next_->row(obj, like, scratch_);
  else next_->gen_.generate(obj, index, scratch_);
  scratch_[0].s = next_->gen_.make_id(obj, index);
  scratch_[field_index(obj, "CreatedDate")] = datetime(at_);
  scratch_[field_index(obj, "UpdatedDate")] = datetime(at_);
  overlay_row& r = edit(obj, index);
  r.values = scratch_;
  r.deleted_at.reset();
  own_[slot_of(obj)]->created_ += 1;
  changes_.push_back({&obj, index, mutation_op::create});
  return index;
}

void tenant_editor::update(const object_def& obj, std::uint64_t index) {
  overlay_row& r = edit(obj, index);
  r.values[field_index(obj, "UpdatedDate")] = datetime(at_);
  if (const auto marker = marker_field(obj)) {
    field_value& m = r.values[*marker];
    if (!m.s.ends_with(" (updated)")) m.s += " (updated)";
    m.k = field_value::kind::text;
  }
  changes_.push_back({&obj, index, mutation_op::update});
}

void tenant_editor::remove(const object_def& obj, std::uint64_t index) {
  // A deletion is a change: the tombstone keeps the last values with
  // UpdatedDate = now, so `where UpdatedDate >= ...` finds it (stateless
  // extraction with forceExport).
  overlay_row& r = edit(obj, index);
  r.values[field_index(obj, "UpdatedDate")] = datetime(at_);
  r.deleted_at = at_;
  own_[slot_of(obj)]->deleted_ += 1;
  changes_.push_back({&obj, index, mutation_op::remove});
}

tenant_snapshot tenant_editor::finish() { return std::move(next_); }

// ---------------------------------------------------------------- /_emulator/mutate

bool apply_mutation(tenant_editor& ed, const mutation_request& req, mutation_outcome& out, std::string& error) {
  const object_def* obj = find_object(req.object);
  if (obj == nullptr) {
    error = fmt::format("unknown object '{}'", req.object);
    return false;
  }
  const tenant_state& st = ed.state();
  const std::uint64_t total = st.row_count(*obj);
  const object_overlay* ov = st.overlay(*obj);
  const std::uint64_t live = total - (ov != nullptr ? ov->deleted() : 0);
  std::set<std::uint64_t> touched;
  std::vector<std::uint64_t> updates, deletes;
  for (const auto& [ids, into] : {std::pair{&req.update_ids, &updates}, std::pair{&req.delete_ids, &deletes}}) {
    for (const std::string& id : *ids) {
      const auto idx = st.find(*obj, id);
      if (!idx || !st.live(*obj, *idx)) {
        error = fmt::format("{} has no live record with id '{}'", obj->name, id);
        return false;
      }
      if (!touched.insert(*idx).second) {
        error = fmt::format("{} id '{}' is named twice", obj->name, id);
        return false;
      }
      into->push_back(*idx);
    }
  }
  if (touched.size() + req.update + req.remove > live) {
    error = fmt::format("{} has {} live records; cannot update {} and delete {} of them", obj->name, live,
                        touched.size() + req.update, req.remove);
    return false;
  }
  // Random live rows, deterministic for a given state and clock.
  std::uint64_t rng = st.generator().seed() ^ static_cast<std::uint64_t>(ed.at()) * 0x9e3779b97f4a7c15ULL ^
                      (total << 20) ^ (ov != nullptr ? ov->deleted() ^ ov->created() << 40 : 0);
  const auto random_live = [&]() {
    for (int tries = 0; tries < 64; ++tries) {
      const std::uint64_t i = splitmix(rng) % total;
      if (!touched.contains(i) && st.live(*obj, i)) return i;
    }
    for (std::uint64_t i = 0; i < total; ++i)
      if (!touched.contains(i) && st.live(*obj, i)) return i;
    return total;  // unreachable: counts were checked
  };
  for (std::uint64_t n = 0; n < req.update; ++n) updates.push_back(*touched.insert(random_live()).first);
  for (std::uint64_t n = 0; n < req.remove; ++n) deletes.push_back(*touched.insert(random_live()).first);

  const tenant_generator& gen = st.generator();
  for (std::uint64_t idx : updates) {
    ed.update(*obj, idx);
    out.updated_ids.push_back(gen.make_id(*obj, idx));
  }
  for (std::uint64_t idx : deletes) {
    ed.remove(*obj, idx);
    out.deleted_ids.push_back(gen.make_id(*obj, idx));
  }
  // Created rows copy a random row (so their references point at existing
  // records).
  for (std::uint64_t n = 0; n < req.create; ++n) {
    const std::uint64_t idx = ed.create(*obj, total > 0 ? splitmix(rng) % total : 0);
    out.created_ids.push_back(gen.make_id(*obj, idx));
  }
  return true;
}

bool apply_mutation(const tenant_snapshot& from, const mutation_request& req, std::int64_t now_unix_s,
                    mutation_outcome& out, std::string& error) {
  tenant_editor ed(from, now_unix_s);
  if (!apply_mutation(ed, req, out, error)) return false;
  out.state = ed.finish();
  return true;
}

}  // namespace aquaduct::emulator
