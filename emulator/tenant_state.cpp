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

}  // namespace

struct mutation_access {
  static std::vector<std::shared_ptr<const object_overlay>>& overlays(tenant_state& s) { return s.overlays_; }
};

tenant_state::tenant_state(std::uint64_t seed, std::uint64_t scale)
    : gen_(seed, scale), overlays_(all_objects().size()) {}

tenant_snapshot make_tenant(std::uint64_t seed, std::uint64_t scale) {
  return std::make_shared<const tenant_state>(seed, scale);
}

const object_overlay* tenant_state::overlay(const object_def& obj) const { return overlays_[slot_of(obj)].get(); }

std::uint64_t tenant_state::row_count(const object_def& obj) const {
  const object_overlay* o = overlay(obj);
  return gen_.base_count(obj) + (o != nullptr ? o->created : 0);
}

tenant_state::row_status tenant_state::row(const object_def& obj, std::uint64_t index, record& out,
                                           std::int64_t* deleted_at) const {
  const object_overlay* o = overlay(obj);
  if (o == nullptr) {
    gen_.generate(obj, index, out);
    return row_status::live;
  }
  if (auto it = o->rows.find(index); it != o->rows.end()) {
    out = it->second;
  } else {
    gen_.generate(obj, index, out);
  }
  if (auto it = o->deleted_at.find(index); it != o->deleted_at.end()) {
    if (deleted_at != nullptr) *deleted_at = it->second;
    return row_status::deleted;
  }
  return row_status::live;
}

std::optional<std::uint64_t> tenant_state::find(const object_def& obj, std::string_view id) const {
  const auto index = tenant_generator::index_of_id(obj, id);
  if (!index || *index >= row_count(obj) || gen_.make_id(obj, *index) != id) return std::nullopt;
  return index;
}

bool apply_mutation(const tenant_snapshot& from, const mutation_request& req, std::int64_t now_unix_s,
                    mutation_outcome& out, std::string& error) {
  const object_def* obj = find_object(req.object);
  if (obj == nullptr) {
    error = fmt::format("unknown object '{}'", req.object);
    return false;
  }
  auto next = std::make_shared<tenant_state>(*from);
  auto& overlays = mutation_access::overlays(*next);
  const std::size_t slot = slot_of(*obj);
  auto ov = overlays[slot] ? std::make_shared<object_overlay>(*overlays[slot]) : std::make_shared<object_overlay>();
  // Deleted-record history is kept 30 days.
  std::erase_if(ov->deleted_at, [&](const auto& e) { return e.second < now_unix_s - deleted_retention_s; });
  overlays[slot] = ov;  // `next` reads through it from here on

  const std::uint64_t total = next->row_count(*obj);
  const std::uint64_t live = total - ov->deleted_at.size();
  std::set<std::uint64_t> touched;
  std::vector<std::uint64_t> updates, deletes;
  for (const auto& [ids, into] : {std::pair{&req.update_ids, &updates}, std::pair{&req.delete_ids, &deletes}}) {
    for (const std::string& id : *ids) {
      const auto idx = next->find(*obj, id);
      if (!idx || ov->deleted_at.contains(*idx)) {
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
  std::uint64_t rng = from->generator().seed() ^ static_cast<std::uint64_t>(now_unix_s) * 0x9e3779b97f4a7c15ULL ^
                      (total << 20) ^ ov->deleted_at.size() ^ (ov->rows.size() << 40);
  const auto random_live = [&]() {
    for (int tries = 0; tries < 64; ++tries) {
      const std::uint64_t i = splitmix(rng) % total;
      if (!touched.contains(i) && !ov->deleted_at.contains(i)) return i;
    }
    for (std::uint64_t i = 0; i < total; ++i)
      if (!touched.contains(i) && !ov->deleted_at.contains(i)) return i;
    return total;  // unreachable: counts were checked
  };
  for (std::uint64_t n = 0; n < req.update; ++n) updates.push_back(*touched.insert(random_live()).first);
  for (std::uint64_t n = 0; n < req.remove; ++n) deletes.push_back(*touched.insert(random_live()).first);

  const std::size_t created_f = field_index(*obj, "CreatedDate");
  const std::size_t updated_f = field_index(*obj, "UpdatedDate");
  const auto marker = marker_field(*obj);
  record rec;
  for (std::uint64_t idx : updates) {
    next->row(*obj, idx, rec);
    rec[updated_f] = field_value{field_value::kind::datetime, now_unix_s, {}};
    if (marker) {
      field_value& m = rec[*marker];
      if (!m.s.ends_with(" (updated)")) m.s += " (updated)";
      m.k = field_value::kind::text;
    }
    ov->rows[idx] = rec;
    out.updated_ids.push_back(rec[0].s);
  }
  for (std::uint64_t idx : deletes) {
    // A deletion is a change: the tombstone keeps the last values with
    // UpdatedDate = now, so `where UpdatedDate >= ...` finds it (stateless
    // extraction with forceExport).
    next->row(*obj, idx, rec);
    rec[updated_f] = field_value{field_value::kind::datetime, now_unix_s, {}};
    ov->rows[idx] = rec;
    ov->deleted_at[idx] = now_unix_s;
    out.deleted_ids.push_back(rec[0].s);
  }
  // Created rows copy a random live row's values (so their references point
  // at existing records) under a fresh id, created and updated now.
  for (std::uint64_t n = 0; n < req.create; ++n) {
    const std::uint64_t idx = next->row_count(*obj);
    if (total > 0) {
      next->row(*obj, splitmix(rng) % total, rec);
    } else {
      next->generator().generate(*obj, idx, rec);
    }
    rec[0].s = next->generator().make_id(*obj, idx);
    rec[created_f] = field_value{field_value::kind::datetime, now_unix_s, {}};
    rec[updated_f] = field_value{field_value::kind::datetime, now_unix_s, {}};
    ov->rows[idx] = rec;
    ov->created += 1;
    out.created_ids.push_back(rec[0].s);
  }
  out.state = std::move(next);
  return true;
}

}  // namespace aquaduct::emulator
