// Transport throughput and pool behaviour, each beside curl in the same run:
//  1. one large body over loopback plain TCP and TLS, one connection:
//     aquaduct's http_client streaming to a counting consumer vs
//     `curl -o /dev/null` on the same URL (best of 3 each);
//  2. 1,000 concurrent small requests through a pool of 16 connections:
//     requests/s and peak RSS vs `curl --parallel --parallel-max 16`.
// The server runs in this process on its own threads (one per connection),
// serving bytes from memory so that neither side touches the disk.
//   transport_bench [MEGABYTES]     (default 1024)
#include "transport/http_client.hpp"

#include "support/loopback_listener.hpp"
#include "support/test_pki.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using namespace aquaduct;

// GET /big: `big_bytes` of text; anything else: a 2-byte JSON body. Keep-alive.
class bench_server {
 public:
  bench_server(std::uint64_t big_bytes, const test::pem_identity* tls)
      : big_(big_bytes), chunk_(1 << 20, 'x'), tls_(tls ? test::server_context(*tls) : nullptr) {
    for (std::size_t i = 0; i < chunk_.size(); i += 64) chunk_[i] = '\n';
  }
  ~bench_server() {
    listener_.reset();
    for (auto& t : workers_) t.join();
  }
  unsigned short port() const { return listener_->port(); }

 private:
  bool accept(asio::ip::tcp::socket& accepted) {
    auto sock = std::make_shared<asio::ip::tcp::socket>(std::move(accepted));
    sock->set_option(asio::ip::tcp::no_delay(true));
    workers_.emplace_back([this, sock] {
      if (!tls_) return serve(*sock);
      asio::ssl::stream<asio::ip::tcp::socket&> s(*sock, *tls_);
      std::error_code hec;
      s.handshake(asio::ssl::stream_base::server, hec);
      if (!hec) serve(s);
    });
    return true;
  }
  template <class Stream>
  void serve(Stream& s) {
    asio::streambuf buf;
    std::error_code ec;
    for (;;) {
      const std::size_t n = asio::read_until(s, buf, "\r\n\r\n", ec);
      if (ec) return;
      const bool big = std::string(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + 9) == "GET /big ";
      buf.consume(n);
      const std::uint64_t len = big ? big_ : 2;
      const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: " + std::to_string(len) + "\r\n\r\n";
      if (!big) {
        asio::write(s, std::array<asio::const_buffer, 2>{asio::buffer(head), asio::buffer("{}", 2)}, ec);
        if (ec) return;
        continue;
      }
      asio::write(s, asio::buffer(head), ec);
      for (std::uint64_t sent = 0; sent < len && !ec;) {
        const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_.size(), len - sent));
        asio::write(s, asio::buffer(chunk_.data(), k), ec);
        sent += k;
      }
      if (ec) return;
    }
  }

  std::uint64_t big_;
  std::string chunk_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::vector<std::thread> workers_;
  std::unique_ptr<test::loopback_listener> listener_ =
      std::make_unique<test::loopback_listener>([this](asio::ip::tcp::socket& s) { return accept(s); });  // last
};

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

std::uint64_t status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::strtoull(line.c_str() + std::strlen(key), nullptr, 10);
  return 0;
}

// aquaduct: MB/s of one streamed download of `url`'s /big.
double ours_mbps(const std::string& base, const std::string& ca_file, std::uint64_t bytes) {
  asio::io_context io;
  transport::client_options o;
  o.tls.ca_file = ca_file;
  o.proxy = "none";
  o.max_connections = 1;
  std::error_code ec;
  transport::http_client c(io.get_executor(), transport::parse_base_url(base, ec), o);
  std::uint64_t got = 0;
  const auto t0 = clock_type::now();
  asio::co_spawn(io, [](transport::http_client* cl, std::uint64_t* n) -> asio::awaitable<void> {
    transport::http_request r;
    r.target = "/big";
    co_await cl->stream(r, [n](std::string_view piece) { *n += piece.size(); });
  }(&c, &got), [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io.run();
  const double s = seconds_since(t0);
  if (got != bytes) {
    std::fprintf(stderr, "short download: %llu of %llu\n", static_cast<unsigned long long>(got),
                 static_cast<unsigned long long>(bytes));
    std::exit(1);
  }
  return static_cast<double>(bytes) / s / 1e6;
}

double curl_mbps(const std::string& url, const std::string& ca_file) {
  const std::string cmd = "curl -sf --noproxy '*' " + (ca_file.empty() ? std::string() : "--cacert " + ca_file + " ") +
                          "-o /dev/null -w '%{speed_download}' " + url;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[64] = {};
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, p);
  if (pclose(p) != 0 || n == 0) {
    std::fprintf(stderr, "curl failed: %s\n", cmd.c_str());
    std::exit(1);
  }
  return std::strtod(buf, nullptr) / 1e6;
}

void throughput(const char* label, const std::string& base, const std::string& ca_file, std::uint64_t bytes) {
  double ours = 0, curl = 0;
  for (int i = 0; i < 3; ++i) {
    ours = std::max(ours, ours_mbps(base, ca_file, bytes));
    curl = std::max(curl, curl_mbps(base + "/big", ca_file));
  }
  std::printf("%-26s aquaduct %8.1f MB/s   curl %8.1f MB/s   ratio %.2fx\n", label, ours, curl, ours / curl);
}

void many_small(const std::string& base, int requests, std::size_t pool) {
  const std::uint64_t rss_before = status_kb("VmRSS:");
  asio::io_context io;
  transport::client_options o;
  o.proxy = "none";
  o.max_connections = pool;
  std::error_code ec;
  transport::http_client c(io.get_executor(), transport::parse_base_url(base, ec), o);
  int ok = 0;
  const auto t0 = clock_type::now();
  for (int i = 0; i < requests; ++i)
    asio::co_spawn(io, [](transport::http_client* cl, int* n) -> asio::awaitable<void> {
      transport::http_request r;
      r.target = "/small";
      if ((co_await cl->request(r)).status == 200) ++*n;
    }(&c, &ok), asio::detached);
  io.run();
  const double s = seconds_since(t0);
  const std::uint64_t hwm = status_kb("VmHWM:");
  const auto st = c.stats();

  // Baseline: curl, 16 parallel transfers over its own connection reuse.
  const auto cfg = std::filesystem::temp_directory_path() / ("transport_bench_" + std::to_string(getpid()) + ".curl");
  {
    std::ofstream f(cfg);
    for (int i = 0; i < requests; ++i) f << "url = \"" << base << "/small\"\noutput = \"/dev/null\"\n";
  }
  const auto c0 = clock_type::now();
  const std::string cmd = "curl -sf --noproxy '*' --parallel --parallel-max " + std::to_string(pool) + " -K " + cfg.string() + " > /dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  const double cs = seconds_since(c0);
  std::filesystem::remove(cfg);
  if (ok != requests || rc != 0) {
    std::fprintf(stderr, "small requests failed: %d ok, curl rc %d\n", ok, rc);
    std::exit(1);
  }
  std::printf("%d requests, pool of %zu:   aquaduct %8.0f req/s   curl --parallel %8.0f req/s   ratio %.2fx\n", requests,
              pool, requests / s, requests / cs, cs / s);
  std::printf("  connections made %zu, reused %zu, peak open %zu; peak RSS %.1f MB (%.1f MB before)\n", st.created,
              st.reused, st.peak_open, static_cast<double>(hwm) / 1024, static_cast<double>(rss_before) / 1024);
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t mb = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
  const std::uint64_t bytes = mb << 20;
  test::test_ca ca;
  const test::pem_identity id = ca.issue({"localhost", "IP:127.0.0.1"});
  const auto ca_file = std::filesystem::temp_directory_path() / ("transport_bench_ca_" + std::to_string(getpid()) + ".pem");
  std::ofstream(ca_file) << ca.cert_pem();

  std::printf("transport_bench: %llu MB body, loopback, one connection, best of 3\n", static_cast<unsigned long long>(mb));
  {
    bench_server plain(bytes, nullptr);
    throughput("plain HTTP", "http://127.0.0.1:" + std::to_string(plain.port()), "", bytes);
    std::printf("  peak RSS after 3 x %llu MB streamed (server included): %.1f MB\n",
                static_cast<unsigned long long>(mb), static_cast<double>(status_kb("VmHWM:")) / 1024);
    many_small("http://127.0.0.1:" + std::to_string(plain.port()), 1000, 16);
  }
  {
    bench_server tls(bytes, &id);
    throughput("HTTPS (TLS, verified)", "https://127.0.0.1:" + std::to_string(tls.port()), ca_file.string(), bytes);
  }
  std::filesystem::remove(ca_file);
  return 0;
}
