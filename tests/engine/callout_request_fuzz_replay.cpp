// The callout_request fuzz target's body, replayed on deterministic inputs
// (valid callouts of every shape, and mutations of them) in every ctest run.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
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
  std::mt19937_64 rng(6006);
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
    fuzz_callout_request(reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
    ++runs;
  }
  CHECK(runs == 4000);
}
