// The service's pure HTTP helpers, edge cases first.
#include "emulator/http_util.hpp"

#include <string>

#include <doctest/doctest.h>
#include <zlib.h>

using namespace aquaduct::emulator;

TEST_CASE("parse_range: single ranges, suffixes, and what is ignored or unsatisfiable") {
  std::uint64_t a = 0, b = 0;
  CHECK(parse_range("bytes=0-9", 100, a, b) == range_result::ok);
  CHECK((a == 0 && b == 9));
  CHECK(parse_range("bytes=90-", 100, a, b) == range_result::ok);
  CHECK((a == 90 && b == 99));
  CHECK(parse_range("bytes=50-500", 100, a, b) == range_result::ok);
  CHECK((a == 50 && b == 99));
  CHECK(parse_range("bytes=-10", 100, a, b) == range_result::ok);
  CHECK((a == 90 && b == 99));
  CHECK(parse_range("bytes=-1000", 100, a, b) == range_result::ok);
  CHECK((a == 0 && b == 99));
  CHECK(parse_range("bytes=100-", 100, a, b) == range_result::unsatisfiable);
  CHECK(parse_range("bytes=-0", 100, a, b) == range_result::unsatisfiable);
  CHECK(parse_range("bytes=0-1,5-6", 100, a, b) == range_result::ignore);
  CHECK(parse_range("items=0-1", 100, a, b) == range_result::ignore);
  CHECK(parse_range("bytes=9-3", 100, a, b) == range_result::ignore);
  CHECK(parse_range("bytes=x-3", 100, a, b) == range_result::ignore);
  CHECK(parse_range("bytes=5", 100, a, b) == range_result::ignore);
}

TEST_CASE("decoding: base64, percent-encoding, forms") {
  std::string out;
  CHECK(base64_decode("YXF1YWR1Y3Q6YXF1YWR1Y3Q=", out));
  CHECK(out == "aquaduct:aquaduct");
  CHECK(base64_decode("YQ", out));
  CHECK(out == "a");
  CHECK_FALSE(base64_decode("a*b", out));
  CHECK(url_decode("a%2Fb+c%zz", true) == "a/b c%zz");
  CHECK(url_decode("a+b", false) == "a+b");
  const auto form = parse_form("client_id=a%20b&grant_type=client_credentials&flag&x=1&x=2");
  CHECK(form.at("client_id") == "a b");
  CHECK(form.at("flag").empty());
  CHECK(form.at("x") == "2");
}

TEST_CASE("accepts: Accept-Encoding tokens, case and q=0") {
  const std::string a = "deflate, GZIP;q=0.5", b = "gzip;q=0", c = "br", d = "gzip;q=0.0";
  CHECK(accepts(&a, "gzip"));
  CHECK_FALSE(accepts(&b, "gzip"));
  CHECK_FALSE(accepts(&c, "gzip"));
  CHECK(accepts(&d, "gzip") == false);
  CHECK_FALSE(accepts(nullptr, "gzip"));
}

TEST_CASE("gunzip_body: ok, corrupt, truncated, over the limit") {
  const std::string text(10000, 'x');
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string gz(deflateBound(&zs, 10000) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = 10000;
  zs.next_out = reinterpret_cast<Bytef*>(gz.data());
  zs.avail_out = static_cast<uInt>(gz.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  gz.resize(zs.total_out);
  deflateEnd(&zs);

  std::string out, error;
  CHECK(gunzip_body(gz, 1 << 20, out, error) == 0);
  CHECK(out == text);
  CHECK(gunzip_body(gz.substr(0, gz.size() / 2), 1 << 20, out, error) == 400);
  CHECK(error.find("compressed byte") != std::string::npos);
  CHECK(gunzip_body("plain text", 1 << 20, out, error) == 400);
  CHECK(gunzip_body(gz, 100, out, error) == 413);
}

TEST_CASE("header_safe: no way out of a quoted header parameter") {
  CHECK(header_safe("Acc\"ounts\r\nX-Evil: 1\\") == "Acc_ounts__X-Evil: 1_");
  CHECK(header_safe("Müller.csv") == "Müller.csv");
}
