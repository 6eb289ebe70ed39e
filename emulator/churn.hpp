#pragma once
// Continuous churn (--churn RATE[:SEED], docs/emulator.md "Churn"): the
// tenant keeps changing while it serves, as real tenants do.
//
// The sequence of mutations is a pure function of the seed: mutation n picks
// its object, its operation and its row from splitmix(seed, n) alone (the row
// as the first live one at or after a drawn position, so the choice also
// depends on the earlier mutations, which are themselves fixed by the seed).
// The service applies them in ticks of 1/churn_ticks_per_second s; at a
// steady rate tick k holds mutations [churn_due(rate, k), churn_due(rate, k+1)),
// so the mutations of a tick depend on the seed and the tick number only.
#include <cstdint>
#include <span>
#include <string_view>

#include "emulator/tenant_state.hpp"

namespace aquaduct::emulator {

inline constexpr std::uint64_t churn_ticks_per_second = 10;
// Beyond this a tick would hold thousands of mutations and stall the I/O thread.
inline constexpr double max_churn_rate = 10000;

// The mix: which objects change, in percent of all mutations.
struct churn_share {
  std::string_view object;
  unsigned percent;
};
inline constexpr churn_share churn_objects[] = {
    {"Account", 10}, {"Contact", 10}, {"Subscription", 15}, {"Invoice", 20}, {"InvoiceItem", 30}, {"Payment", 15},
};
// And how: mostly updates, some creates, few deletes (the tenant grows).
inline constexpr unsigned churn_update_percent = 70;
inline constexpr unsigned churn_create_percent = 20;  // the remaining 10: deletes

// How many mutations ticks [0, ticks) hold at `rate` mutations per second.
std::uint64_t churn_due(double rate, std::uint64_t ticks);

struct churn_step {
  const object_def* obj = nullptr;
  mutation_op op = mutation_op::update;
  std::uint64_t pick = 0;  // where the search for a live row starts (mod row count)
};
churn_step churn_step_at(std::uint64_t seed, std::uint64_t n);

// Applies `s` to `ed`: an update or a delete takes the first live row at or
// after s.pick % row_count (wrapping around); a create copies that row under
// a fresh id. Returns false, changing nothing, when the object has no live row.
bool apply_churn_step(tenant_editor& ed, const churn_step& s);

}  // namespace aquaduct::emulator
