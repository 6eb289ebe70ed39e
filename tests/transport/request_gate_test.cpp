#include "transport/request_gate.hpp"

#include <aquaduct/error.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <vector>

using namespace aquaduct;
using namespace std::chrono_literals;
using transport::request_gate;
using clock_type = request_gate::clock;

namespace {

// One request's view of the gate: admitted when enter() returned.
struct entrant {
  bool leave_at_once = false;  // a request that is over as soon as it is admitted
  std::optional<request_gate::admission> admitted;
  clock_type::time_point at{};
  std::error_code error;
};

asio::awaitable<void> enter(request_gate* gate, entrant* e) {
  try {
    e->admitted.emplace(co_await gate->enter());
    e->at = clock_type::now();
    if (e->leave_at_once) e->admitted->slot.release();
  } catch (const std::system_error& x) {
    e->error = x.code();
  }
}

// Runs what is ready to run (no waiting), even after the io_context ran out of work.
void settle(asio::io_context& io) {
  io.restart();
  io.poll();
}

// Starts `n` entrants and runs what is ready to run (no waiting).
std::vector<std::unique_ptr<entrant>> start(asio::io_context& io, request_gate& gate, std::size_t n,
                                            bool leave_at_once = false) {
  std::vector<std::unique_ptr<entrant>> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(std::make_unique<entrant>());
    out.back()->leave_at_once = leave_at_once;
    asio::co_spawn(io, enter(&gate, out.back().get()), [](std::exception_ptr) {});
  }
  settle(io);
  return out;
}

std::size_t admitted(const std::vector<std::unique_ptr<entrant>>& es) {
  std::size_t n = 0;
  for (const auto& e : es) n += e->admitted.has_value();
  return n;
}

}  // namespace

TEST_CASE("the window: at most max_window in flight; a 429 halves it once per window; answers grow it back") {
  asio::io_context io;
  request_gate gate(8);
  CHECK(gate.window() == 8);
  auto first = start(io, gate, 10);
  CHECK(admitted(first) == 8);  // the other two wait for room
  CHECK(gate.in_flight() == 8);
  CHECK(gate.waiting() == 2);

  // Three of the eight are answered 429 at once: one overload, one halving.
  for (int i = 0; i < 3; ++i) gate.throttled(first[i]->admitted->slot);
  CHECK(gate.window() == 4);
  CHECK(gate.halvings() == 1);
  // Room frees as the eight end, but only down to the new window: the next waiter goes in when 3 are left.
  for (int i = 0; i < 5; ++i) first[i]->admitted->slot.release();
  settle(io);
  CHECK(gate.in_flight() == 4);
  CHECK(first[8]->admitted.has_value());  // the longest waiter first
  CHECK_FALSE(first[9]->admitted.has_value());
  for (int i = 5; i < 9; ++i) first[i]->admitted->slot.release();
  settle(io);
  REQUIRE(first[9]->admitted.has_value());
  first[9]->admitted->slot.release();
  CHECK(gate.in_flight() == 0);

  // Eight requests at once now: four go, four wait.
  auto second = start(io, gate, 8);
  CHECK(admitted(second) == 4);
  CHECK(gate.waiting() == 4);
  // A 429 on a permit issued after the halving halves again.
  gate.throttled(second[0]->admitted->slot);
  CHECK(gate.window() == 2);
  for (std::size_t released = 0; released < second.size();) {
    for (auto& e : second)
      if (e->admitted && e->admitted->slot) {
        e->admitted->slot.release();
        ++released;
      }
    settle(io);
    CHECK(gate.in_flight() <= 2);
  }
  // Never below 1.
  for (int round = 0; round < 5; ++round) {
    auto one = start(io, gate, 1);
    REQUIRE(one[0]->admitted);
    gate.throttled(one[0]->admitted->slot);
  }
  CHECK(gate.window() == 1);
  CHECK(gate.min_window() == 1);

  // Additive increase: about one more slot per window of answers, up to max_window and no further.
  std::size_t answers = 0;
  std::size_t last = gate.window();
  while (gate.window() < 8) {
    auto one = start(io, gate, 1);
    REQUIRE(one[0]->admitted);
    gate.answered(one[0]->admitted->slot);
    ++answers;
    CHECK(gate.window() >= last);
    last = gate.window();
  }
  CHECK(answers > 8);    // not straight back up: slower than the way down
  CHECK(answers < 100);
  for (int i = 0; i < 50; ++i) {
    auto one = start(io, gate, 1);
    gate.answered(one[0]->admitted->slot);
  }
  CHECK(gate.window() == 8);
  CHECK(gate.peak_in_flight() == 8);
}

TEST_CASE("a pause holds back every request until it ends, whether the window has room or not") {
  asio::io_context io;
  request_gate gate(2);
  auto in_flight = start(io, gate, 2);  // the window is full
  REQUIRE(admitted(in_flight) == 2);
  auto full = start(io, gate, 1, true);  // this one waits for room
  CHECK(gate.waiting() == 1);

  const auto pause_end = clock_type::now() + 300ms;
  CHECK(gate.pause_until(pause_end));
  CHECK(gate.pause_until(pause_end - 200ms));  // a shorter pause does not shorten it
  CHECK(gate.paused_until() == pause_end);
  auto during = start(io, gate, 3, true);  // newcomers during the pause wait, with room or without
  for (auto& e : in_flight) e->admitted->slot.release();
  settle(io);
  CHECK(gate.in_flight() == 0);
  CHECK(gate.waiting() == 4);

  io.run();  // until every entrant was admitted (each leaves at once)
  // Not one was admitted before the pause ended.
  REQUIRE(full[0]->admitted);
  CHECK(full[0]->at >= pause_end);
  CHECK(full[0]->admitted->waited >= 300ms);  // what callers leave out of the request's budget
  REQUIRE(admitted(during) == 3);
  for (const auto& e : during) CHECK(e->at >= pause_end);
}

TEST_CASE("cancelled while waiting: the waiter leaves the queue; interrupt() ends a pause for good") {
  asio::io_context io;
  request_gate gate(1);
  auto holder = start(io, gate, 1);
  entrant cancelled;
  asio::cancellation_signal stop;
  asio::co_spawn(io, enter(&gate, &cancelled),
                 asio::bind_cancellation_slot(stop.slot(), [](std::exception_ptr) {}));
  settle(io);
  CHECK(gate.waiting() == 1);
  stop.emit(asio::cancellation_type::terminal);
  settle(io);
  CHECK(cancelled.error == transport_errc::cancelled);
  CHECK(gate.waiting() == 0);
  holder[0]->admitted->slot.release();
  CHECK(gate.in_flight() == 0);

  // An hour's pause, then the run is interrupted: the waiters go at once, and no new pause is taken.
  REQUIRE(gate.pause_until(clock_type::now() + 1h));
  auto waiters = start(io, gate, 1);
  CHECK(gate.waiting() == 1);
  gate.interrupt();
  settle(io);
  CHECK(waiters[0]->admitted);
  CHECK_FALSE(gate.pause_until(clock_type::now() + 1h));
}
