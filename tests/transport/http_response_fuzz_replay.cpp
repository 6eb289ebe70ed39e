// The http_response fuzz target's body, replayed on deterministic inputs
// (valid responses of every framing, and mutations of them) in every ctest run.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
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
  std::mt19937_64 rng(4242);
  int runs = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string in(2, '\0');
    in[0] = static_cast<char>(rng());
    in[1] = static_cast<char>(rng());
    std::string body = seeds[rng() % seeds.size()];
    for (int e = 0, edits = static_cast<int>(rng() % 4); e < edits && !body.empty(); ++e) {
      const std::size_t at = rng() % body.size();
      switch (rng() % 3) {
        case 0: body[at] = static_cast<char>(rng()); break;
        case 1: body.erase(at, 1 + rng() % 3); break;
        default: body.insert(at, 1, static_cast<char>(rng())); break;
      }
    }
    in += body;
    fuzz_http_response(reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
    ++runs;
  }
  CHECK(runs == 4000);
}
