// aqua_service: how the tenant changes (POST /_emulator/mutate and churn),
// the snapshots jobs take, and the mutation history behind the truth oracle.

// aqua_service.hpp first, as everywhere: Asio's configuration depends on the
// standard headers seen before it (std::aligned_alloc or operator new for
// coroutine frames), and every file must see the same.
#include "emulator/aqua_service.hpp"

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "emulator/churn.hpp"
#include "emulator/json_writer.hpp"

namespace aquaduct::emulator {

namespace {

constexpr auto churn_tick_length = std::chrono::microseconds(1'000'000 / churn_ticks_per_second);
// Ticks applied at most per wake-up: a backlog (the I/O thread was busy) is
// worked off in slices, so serving is never stalled for long.
constexpr std::uint64_t churn_catch_up_ticks = 10;

struct ignore_result {
  void operator()(const std::exception_ptr&) const noexcept {}
};

}  // namespace

void aqua_service::commit(tenant_editor& ed) {
  if (ed.changes().empty()) return;
  if (ed.at() > last_mutation_s_) {
    tenant_before_second_ = tenant_;
    last_mutation_s_ = ed.at();
  }
  history_.add(ed.changes(), ed.at());
  tenant_ = ed.finish();
}

tenant_snapshot aqua_service::snapshot_at(std::int64_t start_s) const {
  return start_s == last_mutation_s_ ? tenant_before_second_ : tenant_;
}

void aqua_service::set_churn(double rate, std::uint64_t seed, bool restart_sequence) {
  if (restart_sequence) churn_.next = 0;
  churn_.rate = rate;
  churn_.seed = seed;
  churn_.first = churn_.next;
  churn_.ticks = 0;
  churn_.since = clock::now();
  const std::uint64_t generation = ++churn_.generation;
  if (rate > 0) asio::co_spawn(io_, churn_loop(generation), ignore_result{});
}

asio::awaitable<void> aqua_service::churn_loop(std::uint64_t generation) {
  asio::steady_timer timer(io_);
  for (;;) {
    timer.expires_at(churn_.since + churn_tick_length * (churn_.ticks + 1));
    co_await timer.async_wait(asio::use_awaitable);
    if (generation != churn_.generation) co_return;
    const auto due = static_cast<std::uint64_t>((clock::now() - churn_.since) / churn_tick_length);
    for (std::uint64_t n = 0; n < churn_catch_up_ticks && churn_.ticks < due; ++n) churn_tick();
  }
}

// Tick k of the current rate applies the sequence's mutations
// [first + due(k), first + due(k+1)), all stamped with the current second.
void aqua_service::churn_tick() {
  const std::uint64_t from = churn_.first + churn_due(churn_.rate, churn_.ticks);
  const std::uint64_t to = churn_.first + churn_due(churn_.rate, churn_.ticks + 1);
  ++churn_.ticks;
  if (from == to) return;
  tenant_editor ed(tenant_, mutation_stamp());
  for (std::uint64_t n = from; n < to; ++n) {
    const churn_step step = churn_step_at(churn_.seed, n);
    if (!apply_churn_step(ed, step)) {
      ++churn_.skipped;
      continue;
    }
    churn_counts& c = churn_.counts[step.obj->name];
    switch (step.op) {
      case mutation_op::create: ++c.created; break;
      case mutation_op::update: ++c.updated; break;
      case mutation_op::remove: ++c.deleted; break;
    }
  }
  churn_.next = to;
  commit(ed);
}

void aqua_service::churn_json(json_writer& w) const {
  w.begin_object();
  w.key("rate").raw(fmt::format("{}", churn_.rate));
  w.member("seed", churn_.seed).member("sequence", churn_.next).member("ticks", churn_.ticks);
  w.member("skipped", churn_.skipped);
  w.key("objects").begin_object();
  for (const churn_share& share : churn_objects) {
    const auto it = churn_.counts.find(share.object);
    const churn_counts c = it == churn_.counts.end() ? churn_counts{} : it->second;
    w.key(share.object).begin_object();
    w.member("created", c.created).member("updated", c.updated).member("deleted", c.deleted);
    w.end_object();
  }
  w.end_object();
  w.end_object();
}

}  // namespace aquaduct::emulator
