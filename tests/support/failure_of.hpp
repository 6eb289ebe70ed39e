#pragma once
// Runs a coroutine that must fail and returns the std::system_error it threw
// (a doctest failure when it succeeds or throws anything else).
#include "support/run_sync.hpp"

#include <doctest/doctest.h>

#include <system_error>

namespace aquaduct::test {

template <class T>
std::system_error failure_of(asio::io_context& io, asio::awaitable<T> task) {
  try {
    run_sync(io, std::move(task));
  } catch (const std::system_error& e) {
    return e;
  }
  FAIL("expected the operation to fail");
  return std::system_error(std::error_code{});
}

}  // namespace aquaduct::test
