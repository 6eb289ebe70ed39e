#include "emulator/churn.hpp"

#include <cmath>

namespace aquaduct::emulator {

std::uint64_t churn_due(double rate, std::uint64_t ticks) {
  return static_cast<std::uint64_t>(std::floor(rate * static_cast<double>(ticks) /
                                               static_cast<double>(churn_ticks_per_second)));
}

churn_step churn_step_at(std::uint64_t seed, std::uint64_t n) {
  std::uint64_t s = seed * 0x9e3779b97f4a7c15ULL ^ (n + 0x632be59bd9b4e019ULL);
  const std::uint64_t a = splitmix(s);
  const std::uint64_t b = splitmix(s);
  churn_step step;
  unsigned roll = static_cast<unsigned>(a % 100);
  for (const churn_share& c : churn_objects) {
    step.obj = find_object(c.object);
    if (roll < c.percent) break;
    roll -= c.percent;
  }
  const auto op = static_cast<unsigned>((a >> 32) % 100);
  step.op = op < churn_update_percent                          ? mutation_op::update
            : op < churn_update_percent + churn_create_percent ? mutation_op::create
                                                               : mutation_op::remove;
  step.pick = b;
  return step;
}

bool apply_churn_step(tenant_editor& ed, const churn_step& s) {
  const tenant_state& st = ed.state();
  const object_def& obj = *s.obj;
  const std::uint64_t total = st.row_count(obj);
  const object_overlay* ov = st.overlay(obj);
  if (total == 0 || (ov != nullptr && ov->deleted() >= total)) return false;
  std::uint64_t i = s.pick % total;
  while (!st.live(obj, i)) i = (i + 1) % total;
  switch (s.op) {
    case mutation_op::create: ed.create(obj, i); break;
    case mutation_op::update: ed.update(obj, i); break;
    case mutation_op::remove: ed.remove(obj, i); break;
  }
  return true;
}

}  // namespace aquaduct::emulator
