// The callout_request fuzz target's body, replayed on deterministic inputs
// (valid callouts of every shape, and mutations of them) in every ctest run.
#include <doctest/doctest.h>

#include "support/mutation_replay.hpp"

#include <cstdint>
#include <string>
#include <vector>

extern "C" int fuzz_callout_request(const std::uint8_t* data, std::size_t size);

TEST_CASE("fuzz replay: the callout request path agrees with itself at every chunking") {
  const std::vector<std::string> seeds{
      "GET /callout?job=2c92c0f8&status=Completed HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: x\r\nConnection: close\r\n\r\n",
      "POST /hooks/done?job=a%2Fb+c&status=Aborted HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody",
      "POST /callout?job=1&status=x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      "GET http://h/callout?job=%41&status=&job=2 HTTP/1.0\r\n\r\n",
      "PUT /other HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
  };
  const int runs = aquaduct::test::replay_mutations(seeds, 6006, 4000, fuzz_callout_request);
  CHECK(runs == 4000);
}
