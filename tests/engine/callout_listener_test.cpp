// The callout listener over real TCP: the emulator's own callouts, malformed
// and hostile requests, limits, and a slow client that must not hold up others.
#include "engine/callout_listener.hpp"

#include "engine/aqua_client.hpp"
#include <aquaduct/emulator.hpp>
#include "support/run_sync.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <cctype>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

using namespace aquaduct;
using engine_detail::callout_limits;
using engine_detail::callout_listener;
using asio::ip::tcp;

namespace {

constexpr auto patience = std::chrono::seconds(30);  // generous: a deadline, never a sleep

// A listener served by its own thread, collecting the callouts it hears.
class running_listener {
 public:
  explicit running_listener(callout_config cfg = {"127.0.0.1:0", ""}, callout_limits limits = {}) {
    listener_.emplace(io_.get_executor(), cfg, limits);
    listener_->on_callout([this](std::string_view job, std::string_view status) {
      std::lock_guard lock(m_);
      heard_.emplace_back(job, status);
      cv_.notify_all();
    });
    listener_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~running_listener() {
    on_io([this] { listener_->stop(); });
    io_.stop();
    thread_.join();
    listener_.reset();
  }

  callout_listener& listener() { return *listener_; }
  unsigned short port() { return listener_->local_endpoint().port(); }

  // Runs `f` on the listener's thread and waits for it.
  template <class F>
  void on_io(F f) {
    std::promise<void> done;
    asio::post(io_, [&] {
      f();
      done.set_value();
    });
    REQUIRE(done.get_future().wait_for(patience) == std::future_status::ready);
  }

  // Waits until `n` callouts were heard; returns them.
  std::vector<std::pair<std::string, std::string>> wait_for(std::size_t n) {
    std::unique_lock lock(m_);
    cv_.wait_for(lock, patience, [&] { return heard_.size() >= n; });
    return heard_;
  }
  std::size_t heard() {
    std::lock_guard lock(m_);
    return heard_.size();
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);  // runs until ~
  std::optional<callout_listener> listener_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, std::string>> heard_;
  std::thread thread_;
};

// A blocking client connection with a receive deadline.
class raw_client {
 public:
  explicit raw_client(unsigned short port) : sock_(io_) {
    sock_.connect({asio::ip::make_address("127.0.0.1"), port});
    timeval tv{static_cast<time_t>(patience.count()), 0};
    ::setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(std::string_view bytes) { asio::write(sock_, asio::buffer(bytes)); }
  void close_sending() { sock_.shutdown(tcp::socket::shutdown_send); }
  // Everything until the listener closes (or the deadline, then what came).
  std::string read_all() {
    std::string out;
    char buf[4096];
    std::error_code ec;
    for (;;) {
      const std::size_t n = sock_.read_some(asio::buffer(buf), ec);
      if (ec) break;
      out.append(buf, n);
    }
    return out;
  }

 private:
  asio::io_context io_;
  tcp::socket sock_;
};

std::string ask(unsigned short port, std::string_view request) {
  raw_client c(port);
  c.send(request);
  return c.read_all();
}

unsigned status_of(std::string_view answer) {
  if (answer.size() < 12 || answer.substr(0, 9) != "HTTP/1.1 ") return 0;
  return static_cast<unsigned>(std::stoul(std::string(answer.substr(9, 3))));
}

std::string get(std::string_view target) { return "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n\r\n"; }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

TEST_CASE("notify_url: the bound address or the public URL, with the job and status parameters") {
  asio::io_context io;
  {
    callout_listener l(io.get_executor(), {"127.0.0.1:0", ""});
    const unsigned short port = l.local_endpoint().port();
    CHECK(port != 0);
    CHECK(l.notify_url() == "http://127.0.0.1:" + std::to_string(port) + "/callout?job=${JOBID}&status=${STATUS}");
  }
  {
    callout_listener l(io.get_executor(), {"127.0.0.1:0", "https://hooks.example.com/aqua/done"});
    CHECK(l.notify_url() == "https://hooks.example.com/aqua/done?job=${JOBID}&status=${STATUS}");
  }
  {
    callout_listener l(io.get_executor(), {"127.0.0.1:0", "https://hooks.example.com/cb?token=abc"});
    CHECK(l.notify_url() == "https://hooks.example.com/cb?token=abc&job=${JOBID}&status=${STATUS}");
  }
  {
    callout_listener l(io.get_executor(), {"localhost:0", ""});
    CHECK(l.local_endpoint().address().is_loopback());
    CHECK(l.notify_url().rfind("http://localhost:", 0) == 0);
  }
  std::error_code v6;
  asio::ip::tcp::acceptor probe(io);
  probe.open(tcp::v6(), v6);
  if (!v6) probe.bind({asio::ip::make_address("::1"), 0}, v6);
  if (!v6) {
    callout_listener l(io.get_executor(), {"[::1]:0", ""});
    CHECK(l.notify_url() == "http://[::1]:" + std::to_string(l.local_endpoint().port()) + "/callout?job=${JOBID}&status=${STATUS}");
  }
}

TEST_CASE("an address that cannot be used is an error naming it") {
  asio::io_context io;
  callout_listener first(io.get_executor(), {"127.0.0.1:0", ""});
  const std::string taken = "127.0.0.1:" + std::to_string(first.local_endpoint().port());
  for (const std::string& listen : {taken, std::string("127.0.0.1"), std::string("127.0.0.1:70000"), std::string("127.0.0.1:x"),
                                   std::string("[::1:0"), std::string("")}) {
    try {
      callout_listener l(io.get_executor(), {listen, ""});
      FAIL("bound ", listen);
    } catch (const std::system_error& e) {
      CHECK_MESSAGE(std::string(e.what()).find("\"" + listen + "\"") != std::string::npos, e.what());
    }
  }
}

TEST_CASE("the emulator's callouts reach the callback with the job's id and status") {
  emulator::options opts;
  opts.latency = std::chrono::milliseconds(50);
  opts.scale = 20;
  emulator::server srv(opts);
  srv.start();
  running_listener rl;

  asio::io_context io;
  source_config src;
  src.base_url = srv.base_url();
  src.auth.type = auth_type::oauth;
  src.auth.client_id = "aquaduct";
  src.auth.client_secret = "aquaduct";
  src.proxy = "none";
  engine_detail::aqua_client client(engine_detail::make_aqua_session(io.get_executor(), src, "test.toml"));
  const auto body = [&](std::string_view name) {
    return R"({"format":"csv","version":"1.0","name":")" + std::string(name) + R"(","notifyUrl":")" +
           rl.listener().notify_url() +
           R"(","queries":[{"name":"Account","query":"select Id from Account","type":"zoqlexport"}]})";
  };

  // Three jobs at once: each callout names its own job.
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(test::run_sync(io, client.submit(body("job" + std::to_string(i)), "key-" + std::to_string(i))).id);
  const auto heard = rl.wait_for(3);
  REQUIRE(heard.size() == 3);
  for (const auto& id : ids) {
    const auto it = std::find_if(heard.begin(), heard.end(), [&](const auto& h) { return h.first == id; });
    REQUIRE_MESSAGE(it != heard.end(), "no callout for ", id);
    // The status the callout carried is the job's final status.
    const decode::aqua_job job = test::run_sync(io, client.get_job(id));
    CHECK(job.status == "completed");
    CHECK(lower(it->second) == job.status);
  }

  // A cancelled job calls out too, saying so.
  opts.latency = std::chrono::seconds(60);
  emulator::server slow(opts);
  slow.start();
  src.base_url = slow.base_url();
  engine_detail::aqua_client slow_client(engine_detail::make_aqua_session(io.get_executor(), src, "test.toml"));
  const std::string id = test::run_sync(io, slow_client.submit(body("slow"), "key-slow")).id;
  const decode::aqua_job cancelled = test::run_sync(io, slow_client.cancel_job(id));
  const auto all = rl.wait_for(4);
  REQUIRE(all.size() == 4);
  CHECK(all[3].first == id);
  CHECK(lower(all[3].second) == cancelled.status);
}

TEST_CASE("callouts are URL-decoded; GET and POST are callouts; the public URL's path is one too") {
  running_listener rl({"127.0.0.1:0", "https://hooks.example.com/aqua%20hooks/done?token=t"});
  const auto port = rl.port();
  CHECK(status_of(ask(port, get("/callout?job=a%2Fb+c&status=Completed"))) == 200);
  CHECK(status_of(ask(port, "POST /aqua%20hooks/done?token=t&job=2c9&status=Aborted&x=1 HTTP/1.1\r\nHost: x\r\n"
                            "Content-Length: 5\r\n\r\nhello")) == 200);
  CHECK(status_of(ask(port, "GET http://127.0.0.1/callout?job=abs&status= HTTP/1.1\r\nHost: x\r\n\r\n")) == 200);
  const auto heard = rl.wait_for(3);
  REQUIRE(heard.size() == 3);
  CHECK(heard[0] == std::pair<std::string, std::string>{"a/b c", "Completed"});
  CHECK(heard[1] == std::pair<std::string, std::string>{"2c9", "Aborted"});
  CHECK(heard[2] == std::pair<std::string, std::string>{"abs", ""});
  const std::string answer = ask(port, get("/callout?job=x&status=Completed"));
  CHECK(answer.find("Connection: close") != std::string::npos);
  CHECK(answer.find("Content-Length: 3\r\n") != std::string::npos);
  CHECK(answer.substr(answer.size() - 7) == "\r\n\r\nok\n");
}

TEST_CASE("malformed, unknown and oversized requests get their 4xx, never a callback or a crash") {
  callout_limits limits;
  limits.max_header_bytes = 2048;
  limits.max_body_bytes = 1024;
  running_listener rl({"127.0.0.1:0", ""}, limits);
  const auto port = rl.port();
  const std::vector<std::pair<std::string, unsigned>> cases{
      {"GARBAGE\r\n\r\n", 400},
      {std::string("\0\x01\x02\xff\r\n\r\n", 8), 400},
      {"GET /callout?job=1&status=Completed HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400},
      {"GET /callout?job=1&status=Completed HTTP/9.9\r\n\r\n", 400},
      {"GET /callout?job=1&status=Completed HTTP/1.1\r\nBad Header\r\n\r\n", 400},
      {"PUT /callout?job=1&status=Completed HTTP/1.1\r\nHost: x\r\n\r\n", 405},
      {"DELETE /callout?job=1&status=Completed HTTP/1.1\r\nHost: x\r\n\r\n", 405},
      {"HEAD /callout?job=1&status=Completed HTTP/1.1\r\nHost: x\r\n\r\n", 405},
      {get("/other?job=1&status=Completed"), 404},
      {get("/callout/extra?job=1&status=Completed"), 404},
      {get("/"), 404},
      {get("/callout"), 400},
      {get("/callout?status=Completed"), 400},
      {get("/callout?job=&status=Completed"), 400},
      {get("/callout?job=1"), 400},
      {get("/callout?job=%zz&status=Completed"), 400},
      {get("/callout?job=1%&status=Completed"), 400},
      {get("/callout?job=1&job=2&status=Completed"), 400},
      {get("/callout?job=1&status=a&status=b"), 400},
      {get("/call%out?job=1&status=a"), 400},
      {"GET /callout?job=1&status=Completed HTTP/1.1\r\nX: " + std::string(4000, 'a') + "\r\n\r\n", 431},
      {get("/callout?job=" + std::string(4000, 'a') + "&status=Completed"), 431},
      {"POST /callout?job=1&status=Completed HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n", 413},
      {"POST /callout?job=1&status=Completed HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
           std::string(2048, 'b') + "\r\n0\r\n\r\n",
       413},
  };
  for (const auto& [request, expected] : cases) {
    CAPTURE(request.substr(0, 80));
    const std::string answer = ask(port, request);
    CHECK(status_of(answer) == expected);
    if (request.rfind("HEAD", 0) == 0) CHECK(answer.substr(answer.size() - 4) == "\r\n\r\n");  // no body
  }
  // A request cut short by the client's close.
  {
    raw_client c(port);
    c.send("GET /callout?job=1&sta");
    c.close_sending();
    CHECK(status_of(c.read_all()) == 400);
  }
  // A connection closed at once, with nothing sent.
  {
    raw_client c(port);
    c.close_sending();
    CHECK(status_of(c.read_all()) == 400);
  }
  CHECK(rl.heard() == 0);
  // Still serving.
  CHECK(status_of(ask(port, get("/callout?job=after&status=Completed"))) == 200);
  CHECK(rl.wait_for(1).at(0).first == "after");
}

TEST_CASE("a slow client holds up no other callout and is cut off at its deadline") {
  callout_limits limits;
  limits.deadline = std::chrono::milliseconds(500);
  running_listener rl({"127.0.0.1:0", ""}, limits);
  const auto port = rl.port();

  raw_client slow(port);
  slow.send("GET /callout?job=slow&status=Comp");  // and nothing more
  // Others are served meanwhile, one after another, while the slow one waits.
  for (int i = 0; i < 5; ++i)
    CHECK(status_of(ask(port, get("/callout?job=fast" + std::to_string(i) + "&status=Completed"))) == 200);
  CHECK(rl.wait_for(5).size() == 5);

  // The slow client is answered 408 and closed once its deadline passes,
  // well before the test's own receive deadline.
  const auto started = std::chrono::steady_clock::now();
  const std::string answer = slow.read_all();
  CHECK(status_of(answer) == 408);
  CHECK(std::chrono::steady_clock::now() - started < patience / 2);
  CHECK(rl.heard() == 5);
}

TEST_CASE("beyond max_connections a connection is answered 503; the held ones are still served") {
  callout_limits limits;
  limits.max_connections = 2;
  running_listener rl({"127.0.0.1:0", ""}, limits);
  const auto port = rl.port();
  raw_client a(port), b(port);
  a.send("GET /callout?job=a");
  b.send("GET /callout?job=b");
  // The listener counts a and b before it accepts the third (accepts are in order).
  {
    raw_client c(port);
    CHECK(status_of(c.read_all()) == 503);
  }
  a.send("&status=Completed HTTP/1.1\r\n\r\n");
  b.send("&status=Completed HTTP/1.1\r\n\r\n");
  CHECK(status_of(a.read_all()) == 200);
  CHECK(status_of(b.read_all()) == 200);
  const auto heard = rl.wait_for(2);
  REQUIRE(heard.size() == 2);
  CHECK(heard[0].first != "c");
  CHECK(heard[1].first != "c");
}

TEST_CASE("stop() closes the listener and its open connections; no callback after it; twice is fine") {
  running_listener rl;
  const auto port = rl.port();
  raw_client held(port);
  held.send("GET /callout?job=late");
  CHECK(status_of(ask(port, get("/callout?job=first&status=Completed"))) == 200);  // held is accepted by now
  rl.on_io([&] {
    rl.listener().stop();
    rl.listener().stop();
  });
  // The held connection is closed without an answer.
  CHECK(held.read_all().empty());
  // New connections are refused.
  asio::io_context io;
  tcp::socket s(io);
  std::error_code ec;
  s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  CHECK(ec);
  CHECK(rl.heard() == 1);
}

TEST_CASE("a callback that stops the listener from inside a callout is safe") {
  running_listener rl;
  const auto port = rl.port();
  rl.on_io([&] {
    rl.listener().on_callout([&](std::string_view, std::string_view) { rl.listener().stop(); });
  });
  raw_client c(port);
  c.send(get("/callout?job=x&status=Completed"));
  (void)c.read_all();  // answered or closed: either is fine; the process lives on
  asio::io_context io;
  tcp::socket s(io);
  std::error_code ec;
  s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  CHECK(ec);
}

TEST_CASE("a callback that throws is answered 500 and the listener keeps serving") {
  running_listener rl;
  const auto port = rl.port();
  int calls = 0;
  rl.on_io([&] {
    rl.listener().on_callout([&](std::string_view job, std::string_view) {
      ++calls;
      if (job == "boom") throw std::runtime_error("handler failed");
      if (job == "int") throw 42;
    });
  });
  CHECK(status_of(ask(port, get("/callout?job=boom&status=Completed"))) == 500);
  CHECK(status_of(ask(port, get("/callout?job=int&status=Completed"))) == 500);
  CHECK(status_of(ask(port, get("/callout?job=fine&status=Completed"))) == 200);
  int seen = 0;
  rl.on_io([&] { seen = calls; });
  CHECK(seen == 3);
}
