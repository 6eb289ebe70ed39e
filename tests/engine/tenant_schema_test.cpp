// engine/tenant_schema: describe fetched through aqua_client from the
// in-process emulator, cached per run, relations resolved to their objects,
// failures (404, 500, a stall) named by object and status.
#include "engine/tenant_schema.hpp"

#include <aquaduct/emulator.hpp>
#include <aquaduct/error.hpp>
#include "engine/emulator_probe.hpp"
#include "support/run_sync.hpp"

#include <asio/io_context.hpp>
#include <doctest/doctest.h>

using namespace aquaduct;
using engine_detail::tenant_schema;

namespace {

source_config source_of(const emulator::server& srv) {
  source_config src;
  src.base_url = srv.base_url();
  src.auth.type = auth_type::basic;
  src.auth.username = "aquaduct";
  src.auth.password = "aquaduct";
  src.proxy = "none";
  src.retry.initial_ms = 1;
  src.retry.max_ms = 5;
  src.retry.max_attempts = 3;
  return src;
}

emulator::options small() {
  emulator::options o;
  o.scale = 5;
  return o;
}

}  // namespace

TEST_CASE("tenant_schema: an object's fields and types, fetched once") {
  emulator::server srv(small());
  srv.start();
  asio::io_context io;
  engine_detail::aqua_client client(engine_detail::make_aqua_session(io.get_executor(), source_of(srv), "t.toml"));
  tenant_schema schema(client);
  const decode::describe_object* account = test::run_sync(io, schema.object("account"));
  CHECK(account->name == "Account");
  const decode::describe_field* balance = engine_detail::find_field(*account, "balance");
  REQUIRE(balance != nullptr);
  CHECK(engine_detail::column_type_of(balance->type) == column_type::decimal);
  CHECK(test::run_sync(io, schema.object("Account")) == account);  // cached
  CHECK(schema.requests() == std::vector<std::string>{"GET /v1/describe/account"});
  test::emulator_probe probe(srv.base_url());
  CHECK(probe.stats().request_count("/v1/describe/account", "200") == 1);
}

TEST_CASE("tenant_schema: relations resolve to their objects") {
  emulator::server srv(small());
  srv.start();
  asio::io_context io;
  engine_detail::aqua_client client(engine_detail::make_aqua_session(io.get_executor(), source_of(srv), "t.toml"));
  tenant_schema schema(client);
  const decode::describe_object* account = test::run_sync(io, schema.object("Account"));
  CHECK(test::run_sync(io, schema.relation_target(*account, "BillToContact")) == std::optional<std::string>("Contact"));
  CHECK(test::run_sync(io, schema.relation_target(*account, "defaultpaymentmethod")) ==
        std::optional<std::string>("PaymentMethod"));
  CHECK(test::run_sync(io, schema.relation_target(*account, "ParentAccount")) == std::optional<std::string>("Account"));
  CHECK(test::run_sync(io, schema.relation_target(*account, "NoSuch")) == std::nullopt);
  const decode::describe_object* invoice = test::run_sync(io, schema.object("Invoice"));
  CHECK(test::run_sync(io, schema.relation_target(*invoice, "Account")) == std::optional<std::string>("Account"));
}

TEST_CASE("tenant_schema: an unknown object names it and the 404") {
  emulator::server srv(small());
  srv.start();
  asio::io_context io;
  engine_detail::aqua_client client(engine_detail::make_aqua_session(io.get_executor(), source_of(srv), "t.toml"));
  tenant_schema schema(client);
  try {
    test::run_sync(io, schema.object("Invoyce"));
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK(e.code() == aqua_errc::http_error);
    CHECK(std::string(e.what()).find("object Invoyce is not described by the tenant") != std::string::npos);
    CHECK(std::string(e.what()).find("HTTP 404") != std::string::npos);
  }
}

TEST_CASE("tenant_schema: a describe that answers 500 is retried, then named with its status") {
  emulator::server srv(small());
  srv.start();
  test::emulator_probe probe(srv.base_url());
  asio::io_context io;
  engine_detail::aqua_client client(engine_detail::make_aqua_session(io.get_executor(), source_of(srv), "t.toml"));
  tenant_schema schema(client);
  SUBCASE("twice, then served") {
    probe.arm_faults(R"({"rules":[{"fault":"status","code":500,"path":"/v1/describe/*","times":2}]})");
    CHECK(test::run_sync(io, schema.object("Contact"))->name == "Contact");
  }
  SUBCASE("always") {
    probe.arm_faults(R"({"rules":[{"fault":"status","code":500,"path":"/v1/describe/*"}]})");
    try {
      test::run_sync(io, schema.object("Contact"));
      FAIL("no error");
    } catch (const std::system_error& e) {
      const std::string what = e.what();
      CHECK(what.find("describe of object Contact") != std::string::npos);
      CHECK(what.find("HTTP 500") != std::string::npos);
      CHECK(what.find("gave up after 3 attempts") != std::string::npos);
    }
  }
}

TEST_CASE("nearest: did you mean") {
  const std::vector<std::string> fields{"AccountNumber", "Balance", "Name", "UpdatedDate"};
  CHECK(engine_detail::nearest("AcountNumber", fields) == "AccountNumber");
  CHECK(engine_detail::nearest("balanse", fields) == "Balance");
  CHECK(engine_detail::nearest("Zebra", fields).empty());
}
