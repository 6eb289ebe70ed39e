// The http_response fuzz target's body, replayed on deterministic inputs
// (valid responses of every framing, and mutations of them) in every ctest run.
#include <doctest/doctest.h>

#include "support/mutation_replay.hpp"

#include <cstdint>
#include <string>
#include <vector>

extern "C" int fuzz_http_response(const std::uint8_t* data, std::size_t size);

TEST_CASE("fuzz replay: the response path agrees with itself at every chunking") {
  const std::vector<std::string> seeds{
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 204 No Content\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nId,Name\n1,a",
      "HTTP/1.0 404 Not Found\r\nX: a\r\n b\r\nContent-Length: 3\r\n\r\nabc",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
  };
  const int runs = aquaduct::test::replay_mutations(seeds, 4242, 4000, fuzz_http_response);
  CHECK(runs == 4000);
}
