#include "emulator/tenant_history.hpp"

namespace aquaduct::emulator {

void tenant_history::add(const std::vector<row_change>& changes, std::int64_t at) {
  if (by_object_.empty()) by_object_.resize(all_objects().size());
  for (const row_change& c : changes) {
    by_object_[static_cast<std::size_t>(c.obj->char_type_id - 1)].push_back(entry{at, c.index, c.op});
    ++size_;
  }
}

void tenant_history::clear() {
  by_object_.clear();
  size_ = 0;
}

tenant_history::truth tenant_history::at(const tenant_generator& gen, const object_def& obj, std::int64_t t) const {
  enum class row : std::uint8_t { absent, live, deleted };
  const std::uint64_t base = gen.base_count(obj);
  std::vector<std::int64_t> version(base);
  std::vector<row> status(base, row::live);
  for (std::uint64_t i = 0; i < base; ++i) version[i] = gen.base_updated(obj, i);

  truth out;
  const auto slot = static_cast<std::size_t>(obj.char_type_id - 1);
  if (slot < by_object_.size()) {
    for (const entry& e : by_object_[slot]) {
      if (e.op == mutation_op::remove) out.deleted.emplace_back(e.index, e.at);
      if (e.at >= t) continue;
      if (e.index >= version.size()) {
        version.resize(e.index + 1);
        status.resize(e.index + 1, row::absent);
      }
      version[e.index] = e.at;
      status[e.index] = e.op == mutation_op::remove ? row::deleted : row::live;
    }
  }
  for (std::uint64_t i = 0; i < version.size(); ++i)
    if (status[i] == row::live) out.live.emplace_back(i, version[i]);
  return out;
}

}  // namespace aquaduct::emulator
