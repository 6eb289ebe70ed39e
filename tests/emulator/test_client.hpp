#pragma once
// A tiny blocking HTTP/1.1 client for the emulator tests. Written here on
// purpose: the emulator is tested without aquaduct's own transport.
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>
#include <doctest/doctest.h>
#include <simdjson.h>
#include <zlib.h>

#include "emulator/test_emulator_data_support.hpp"

namespace emu_test {

struct reply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool complete = true;  // false: the connection ended before Content-Length bytes arrived

  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() != name.size()) continue;
      bool eq = true;
      for (std::size_t i = 0; i < k.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(k[i])) != std::tolower(static_cast<unsigned char>(name[i])))
          eq = false;
      if (eq) return v;
    }
    return {};
  }
};

// A throwaway CA and a server certificate for 127.0.0.1/localhost signed by
// it, made with the openssl command at test time in a fresh directory.
struct test_pki {
  std::filesystem::path dir;
  std::filesystem::path ca_cert, server_cert, server_key;

  test_pki() {
    dir = std::filesystem::temp_directory_path() /
          ("emu-pki-" + std::to_string(::getpid()) + "-" +
           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(dir);
    ca_cert = dir / "ca.pem";
    server_cert = dir / "server.pem";
    server_key = dir / "server.key";
    std::ofstream(dir / "san.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    const std::string d = dir.string();
    const std::string script =
        "cd '" + d + "' && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem "
        "-days 1 -subj /CN=emulator-test-ca && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr "
        "-subj /CN=127.0.0.1 && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 "
        "-extfile san.ext";
    const std::string cmd = "(" + script + ") > '" + d + "/openssl.log' 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl failed; see " + d + "/openssl.log");
  }
  ~test_pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  test_pki(const test_pki&) = delete;
  test_pki& operator=(const test_pki&) = delete;
};

class client {
 public:
  explicit client(std::uint16_t port) : sock_(io_) {
    sock_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{10, 0};  // never hang a test on a silent server
    ::setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  // TLS to the emulator, verifying its certificate against `ca_file` and the
  // name 127.0.0.1. Throws std::system_error when the handshake fails.
  client(std::uint16_t port, const std::filesystem::path& ca_file)
      : sock_(io_), tls_ctx_(std::in_place, asio::ssl::context::tls_client) {
    tls_ctx_->load_verify_file(ca_file.string());
    tls_ctx_->set_verify_mode(asio::ssl::verify_peer);
    tls_.emplace(io_, *tls_ctx_);
    tls_->set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
    tls_->lowest_layer().connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{10, 0};
    ::setsockopt(tls_->lowest_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    tls_->handshake(asio::ssl::stream_base::client);
  }

  void send_raw(const std::string& bytes) {
    if (tls_) asio::write(*tls_, asio::buffer(bytes));
    else asio::write(sock_, asio::buffer(bytes));
  }

  reply request(const std::string& method, const std::string& target, const std::string& body = {},
                std::vector<std::pair<std::string, std::string>> headers = default_auth(),
                const std::string& content_type = "application/json") {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST") {
      req += "Content-Type: " + content_type + "\r\n";
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n" + body;
    send_raw(req);
    return read_reply(method == "HEAD");
  }

  reply read_reply(bool head = false) {
    reply r;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) throw std::runtime_error("connection closed before a response head");
    }
    std::string head_text = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    std::size_t pos = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, pos);
    r.status = std::stoi(status_line.substr(9, 3));
    while (pos != std::string::npos) {
      const std::size_t next = head_text.find("\r\n", pos + 2);
      const std::string line = head_text.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        r.headers.emplace_back(line.substr(0, colon), v);
      }
      pos = next;
    }
    const std::string cl = r.header("Content-Length");
    const std::size_t len = head || cl.empty() ? 0 : std::stoull(cl);
    while (buf_.size() < len) {
      if (!fill()) {
        r.complete = false;
        break;
      }
    }
    const std::size_t take = std::min(len, buf_.size());
    r.body = buf_.substr(0, take);
    buf_.erase(0, take);
    return r;
  }

  // True when the server has closed the connection (EOF or reset).
  bool closed_by_peer() {
    if (!buf_.empty()) return false;
    return !fill();
  }
  std::error_code last_error() const { return last_ec_; }

  static std::vector<std::pair<std::string, std::string>> default_auth() {
    return {{"apiAccessKeyId", "aquaduct"}, {"apiSecretAccessKey", "aquaduct"}};
  }

 private:
  bool fill() {
    char tmp[65536];
    std::error_code ec;
    const std::size_t n = tls_ ? tls_->read_some(asio::buffer(tmp), ec) : sock_.read_some(asio::buffer(tmp), ec);
    if (ec) {
      last_ec_ = ec;
      return false;
    }
    buf_.append(tmp, n);
    return true;
  }

  asio::io_context io_;
  asio::ip::tcp::socket sock_;
  std::optional<asio::ssl::context> tls_ctx_;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
  std::string buf_;
  std::error_code last_ec_;
};

// A parsed JSON document that owns its parser.
struct json {
  explicit json(const std::string& text) : parser(std::make_unique<simdjson::dom::parser>()) {
    auto err = parser->parse(text).get(root);
    if (err) throw std::runtime_error("not JSON: " + text);
  }
  std::string str(std::string_view key) const {
    std::string_view s;
    if (root[key].get(s)) return {};
    return std::string(s);
  }
  std::unique_ptr<simdjson::dom::parser> parser;
  simdjson::dom::element root;
};

// Submits a job (REQUIREs status submitted); returns its id.
inline std::string submit(client& c, const std::string& body,
                          std::vector<std::pair<std::string, std::string>> headers = client::default_auth()) {
  reply r = c.request("POST", "/v1/batch-query/", body, std::move(headers));
  INFO(r.body);
  REQUIRE(r.status == 200);
  json j(r.body);
  REQUIRE(j.str("status") == "submitted");
  return j.str("id");
}

// Polls (with a deadline, never a fixed sleep as the wait) until the job is
// terminal; returns the last job JSON text.
inline std::string wait_terminal(client& c, const std::string& id,
                                 std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    reply r = c.request("GET", "/v1/batch-query/jobs/" + id);
    REQUIRE(r.status == 200);
    json j(r.body);
    const std::string st = j.str("status");
    if (st == "completed" || st == "aborted" || st == "cancelled") return r.body;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// The file ids of batch `index` of a job JSON text: fileId, or segments.
inline std::vector<std::string> batch_files(const std::string& job_text, std::size_t index = 0) {
  json j(job_text);
  simdjson::dom::element b = j.root["batches"].at(index);
  std::vector<std::string> out;
  std::string_view fid;
  if (!b["fileId"].get(fid)) out.emplace_back(fid);
  simdjson::dom::array segs;
  if (!b["segments"].get(segs))
    for (simdjson::dom::element e : segs) out.emplace_back(std::string_view(e));
  return out;
}

inline std::string gunzip(const std::string& in) {
  z_stream zs{};
  if (inflateInit2(&zs, 31) != Z_OK) throw std::runtime_error("inflateInit2");
  std::string out;
  char buf[65536];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw std::runtime_error("inflate failed");
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      throw std::runtime_error("gzip stream ended early");
    }
  }
  inflateEnd(&zs);
  return out;
}

// RFC 4180 records of a result file (the data helper's reference reader).
inline std::vector<std::vector<std::string>> parse_csv(const std::string& s) { return emu_data_test::read_csv(s); }

}  // namespace emu_test
