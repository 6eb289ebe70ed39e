// batch_results jobs against the in-process emulator: POST /v4/batch, poll,
// decode, one sink stream per table; faults, 429s and sink failures.
#include "engine/batch_results_job.hpp"

#include <aquaduct/emulator.hpp>
#include "engine/batch_results_expected.hpp"
#include "engine/json_writer.hpp"
#include "support/run_sync.hpp"
#include "transport/http_client.hpp"
#include "transport/url.hpp"

#include <aquaduct/error.hpp>

#include <doctest/doctest.h>

#include <simdjson.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <map>
#include <stdexcept>

using namespace aquaduct;
using engine_detail::run_batch_results_job;
using test::decode_independently;

namespace {

using rows = std::vector<std::vector<std::string>>;

// ---------------------------------------------------------------- sinks

// What one sink saw of one stream.
struct stream_record {
  stream_schema schema;
  rows data;
  std::vector<file_token> commits;
  int aborts = 0;
};

// Records every stream; optionally throws at one step of the streams whose
// query starts with `fail_prefix`.
class recording_sink final : public sink {
 public:
  enum class step { none, open, write, commit };
  explicit recording_sink(std::string type = "recording", step fail_at = step::none, std::string fail_prefix = "")
      : type_(std::move(type)), fail_at_(fail_at), fail_prefix_(std::move(fail_prefix)) {}

  std::string_view type() const noexcept override { return type_; }
  std::unique_ptr<sink_stream> open(const stream_schema& schema) override {
    if (fails(schema, step::open)) throw std::runtime_error("refused to open " + schema.query);
    streams.push_back(std::make_unique<stream_record>());
    streams.back()->schema = schema;
    return std::make_unique<stream>(*this, *streams.back());
  }
  void close() override {}

  // The streams of `query` ("people__type_1").
  std::vector<const stream_record*> find(const std::string& query) const {
    std::vector<const stream_record*> out;
    for (const auto& s : streams)
      if (s->schema.query == query) out.push_back(s.get());
    return out;
  }

  std::vector<std::unique_ptr<stream_record>> streams;

 private:
  bool fails(const stream_schema& s, step at) const {
    return fail_at_ == at && s.query.compare(0, fail_prefix_.size(), fail_prefix_) == 0;
  }

  class stream final : public sink_stream {
   public:
    stream(recording_sink& owner, stream_record& rec) : owner_(owner), rec_(rec) {}
    void write(const row_batch& b) override {
      if (owner_.fails(rec_.schema, step::write)) throw std::runtime_error("disk full writing " + rec_.schema.query);
      for (std::size_t r = 0; r < b.size(); ++r) {
        std::vector<std::string> row;
        for (std::size_t c = 0; c < b.field_count(r); ++c) row.emplace_back(b.field(r, c));
        rec_.data.push_back(std::move(row));
      }
    }
    void commit(const file_token& t) override {
      if (owner_.fails(rec_.schema, step::commit))
        throw std::system_error(make_error_code(sink_errc::io_error), "commit of " + rec_.schema.query);
      rec_.commits.push_back(t);
    }
    void abort() noexcept override { ++rec_.aborts; }

   private:
    recording_sink& owner_;
    stream_record& rec_;
  };

  std::string type_;
  step fail_at_;
  std::string fail_prefix_;
};

// ---------------------------------------------------------------- running

emulator::options emulator_options(std::string faults = "") {
  emulator::options o;
  o.latency = std::chrono::milliseconds(20);
  o.scale = 60;
  o.seed = 11;
  o.faults_json = std::move(faults);
  return o;
}

query_config query(std::string name, std::string text) {
  query_config q;
  q.name = std::move(name);
  q.query = std::move(text);
  return q;
}

job_config batch_job(std::vector<query_config> queries) {
  job_config j;
  j.name = "crm";
  j.kind = job_kind::batch_results;
  j.queries = std::move(queries);
  return j;
}

source_config source_for(const emulator::server& srv) {
  source_config s;
  s.base_url = srv.base_url();
  s.auth.type = auth_type::basic;
  s.auth.username = "aquaduct";
  s.auth.password = "aquaduct";
  s.poll.initial_ms = 5;
  s.poll.max_ms = 50;
  s.poll.timeout_s = 60;
  s.retry.initial_ms = 5;
  s.retry.max_ms = 50;
  return s;
}

engine_detail::sink_delivery inline_delivery() {
  return [](std::function<void()> work) -> asio::awaitable<void> {
    work();
    co_return;
  };
}

struct run_result {
  job_report report;
  std::vector<std::string> log;
};

run_result run(asio::io_context& io, const source_config& src, const job_config& job, std::vector<sink*> sinks) {
  run_result out;
  engine_detail::run_context ctx;
  ctx.source = src;
  ctx.aqua = engine_detail::make_aqua_session(io.get_executor(), src, "test.toml",
                                              engine_detail::run_log([&out](const log_record& r) { out.log.push_back(to_text(r)); }));
  ctx.sinks = std::move(sinks);
  out.report = test::run_sync(io, run_batch_results_job(ctx, job, inline_delivery()));
  return out;
}

// The batch ids of a report, in query order (job_id is "id,id,...").
std::vector<std::string> batch_ids(const job_report& r) {
  std::vector<std::string> ids;
  std::size_t start = 0;
  while (start <= r.job_id.size() && !r.job_id.empty()) {
    const std::size_t comma = std::min(r.job_id.find(',', start), r.job_id.size());
    ids.push_back(r.job_id.substr(start, comma - start));
    start = comma + 1;
  }
  return ids;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---------------------------------------------------------------- the emulator, directly

struct emulator_http {
  explicit emulator_http(asio::io_context& io, const emulator::server& srv) : io_(io) {
    std::error_code ec;
    client_ = std::make_unique<transport::http_client>(io.get_executor(), transport::parse_base_url(srv.base_url(), ec));
  }

  transport::http_response call(std::string method, std::string target, std::string body = "") {
    transport::http_request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.body = std::move(body);
    r.headers.push_back({"Authorization", "Basic " + transport::base64_encode("aquaduct:aquaduct")});
    if (!r.body.empty()) r.headers.push_back({"Content-Type", "application/json"});
    return test::run_sync(io_, send(client_.get(), std::move(r)));
  }

  // requests[path][status] from /_emulator/stats.
  std::uint64_t requests(const std::string& path, const std::string& method_status) {
    const auto resp = call("GET", "/_emulator/stats");
    REQUIRE(resp.status == 200);
    simdjson::dom::parser p;
    simdjson::dom::element doc = p.parse(resp.body);
    simdjson::dom::element n;
    if (doc["requests"][path][method_status].get(n)) return 0;
    return n.get_uint64().value();
  }

 private:
  static asio::awaitable<transport::http_response> send(transport::http_client* c, transport::http_request r) {
    co_return co_await c->request(std::move(r));
  }
  asio::io_context& io_;
  std::unique_ptr<transport::http_client> client_;
};

// Every stream of `sink` for the job's query `name` matches the batch `id`
// as the test fetches and decodes it; each committed exactly once.
void check_against_service(emulator_http& http, const recording_sink& sink, const std::string& name,
                           const std::string& id) {
  CAPTURE(name);
  const auto resp = http.call("GET", "/v4/batch/" + id);
  REQUIRE(resp.status == 200);
  const auto expected = decode_independently(resp.body);
  std::size_t streams = 0;
  for (const auto& s : sink.streams) {
    if (s->schema.query.rfind(name + "__", 0) != 0) continue;
    ++streams;
    const std::string table = s->schema.query.substr(name.size() + 2);
    CAPTURE(table);
    REQUIRE(expected.count(table) == 1);
    CHECK(s->schema.job == "crm");
    CHECK(s->schema.job_id == id);
    CHECK(s->schema.load == load_kind::full);
    CHECK(s->schema.columns == expected.at(table).columns);
    CHECK(s->data == expected.at(table).data);
    REQUIRE(s->commits.size() == 1);
    CHECK(s->aborts == 0);
    const file_token& t = s->commits[0];
    CHECK(t.job_id == id);
    CHECK(t.query == s->schema.query);
    CHECK(t.file_ids == std::vector<std::string>{id});
    CHECK(t.rows == expected.at(table).data.size());
  }
  CHECK(streams == expected.size());
}

std::uint64_t committed_rows(const recording_sink& sink, const std::string& name) {
  std::uint64_t n = 0;
  for (const auto& s : sink.streams)
    if (s->schema.query.rfind(name + "__", 0) == 0)
      for (const auto& c : s->commits) n += c.rows;
  return n;
}

const std::string people_query = "select Id, Name, AccountNumber, BillToContact.FirstName, BillToContact.LastName from Account limit 25";
const std::string balances_query = "select Id, Name, Balance from Account";

}  // namespace

TEST_CASE("every table of every batch reaches the sinks as its own stream, equal to the batch the service holds") {
  const auto opts = emulator_options();
  emulator::server srv(opts);
  srv.start();
  asio::io_context io;
  recording_sink sink;
  const auto job = batch_job({query("people", people_query), query("balances", balances_query)});
  const run_result r = run(io, source_for(srv), job, {&sink});

  CHECK_MESSAGE(r.report.status == aquaduct::outcome::completed, r.report.error.value_or(""));
  CHECK(r.report.name == "crm");
  REQUIRE(r.report.queries.size() == 2);
  const auto ids = batch_ids(r.report);
  REQUIRE(ids.size() == 2);
  CHECK(ids[0] != ids[1]);
  emulator_http http(io, srv);
  for (std::size_t i = 0; i < 2; ++i) {
    const query_report& q = r.report.queries[i];
    CAPTURE(q.name);
    CHECK(q.name == job.queries[i].name);
    CHECK(q.status == aquaduct::outcome::completed);
    CHECK_FALSE(q.error);
    CHECK(q.files == 1);
    CHECK(q.bytes_downloaded > 0);
    CHECK(q.rows == committed_rows(sink, q.name));
  }
  check_against_service(http, sink, "people", ids[0]);

  // The joined query: Account and Contact tables, and relationships between them.
  CHECK(sink.find("people__relationships").size() == 1);
  CHECK(sink.find("people__type_1").size() == 1);
  CHECK(sink.find("people__type_2").size() == 1);
  const auto* accounts = sink.find("people__type_1").at(0);
  CHECK(accounts->data.size() == 25);

  // The other batch against the tenant's own rows: every account, its
  // characteristics as the CSV writer renders them (decimals included).
  const emulator::table tenant = emulator::tenant_rows(opts, "Account", {"Id", "Name", "Balance"});
  const auto balances = sink.find("balances__type_1");
  REQUIRE(balances.size() == 1);
  const stream_record& b = *balances[0];
  CHECK(b.schema.job_id == ids[1]);
  REQUIRE(b.schema.columns == std::vector<std::string>{"id", "code", "message", "title", "template.templateId",
                                                        "characteristics.Id", "characteristics.Name",
                                                        "characteristics.Balance"});
  REQUIRE(b.data.size() == tenant.rows.size());
  for (std::size_t i = 0; i < tenant.rows.size(); ++i) {
    CAPTURE(i);
    CHECK(std::vector<std::string>(b.data[i].begin() + 5, b.data[i].end()) == tenant.rows[i]);
    CHECK(b.data[i][1] == "200");
    CHECK(b.data[i][3] == tenant.rows[i][1]);  // title: the Name
  }
  CHECK(sink.find("balances__relationships").at(0)->data.empty());
  CHECK(sink.find("balances__relationships").at(0)->commits.size() == 1);
  CHECK(r.report.queries[1].rows == tenant.rows.size());
}

TEST_CASE("a bad ZOQL query fails only its own entry, naming job and query; the others still run") {
  emulator::server srv(emulator_options());
  srv.start();
  asio::io_context io;
  recording_sink sink;
  const auto job = batch_job({query("first", "select Id from Account limit 3"), query("broken", "selec Id frm Account"),
                              query("last", "select Id, FirstName from Contact limit 4")});
  const run_result r = run(io, source_for(srv), job, {&sink});

  CHECK(r.report.status == aquaduct::outcome::failed);
  REQUIRE(r.report.queries.size() == 3);
  CHECK(r.report.queries[0].status == aquaduct::outcome::completed);
  CHECK(r.report.queries[2].status == aquaduct::outcome::completed);
  const query_report& bad = r.report.queries[1];
  CHECK(bad.status == aquaduct::outcome::failed);
  REQUIRE(bad.error);
  CHECK(contains(*bad.error, "job crm, query broken"));
  CHECK(contains(*bad.error, "HTTP 400"));
  CHECK(contains(*bad.error, "syntax error"));
  CHECK(batch_ids(r.report).size() == 2);
  CHECK(sink.find("broken__relationships").empty());
  CHECK(committed_rows(sink, "first") == 3);
  CHECK(committed_rows(sink, "last") == 4);
  for (const auto& s : sink.streams) CHECK(s->commits.size() == 1);
  CHECK_FALSE(r.report.auth_refused);
}

TEST_CASE("503s and a reset connection on /v4/batch are retried, then the batch lands whole") {
  emulator::server srv(emulator_options(R"({"rules":[
      {"path":"/v4/batch","method":"POST","fault":"status","code":503,"times":2},
      {"path":"/v4/batch/*","method":"GET","fault":"status","code":502,"times":2},
      {"path":"/v4/batch/*","method":"GET","fault":"reset_after_bytes","bytes":40,"times":1}]})"));
  srv.start();
  asio::io_context io;
  recording_sink sink;
  const run_result r = run(io, source_for(srv), batch_job({query("people", people_query)}), {&sink});

  CHECK_MESSAGE(r.report.status == aquaduct::outcome::completed, r.report.error.value_or(""));
  emulator_http http(io, srv);
  CHECK(http.requests("/v4/batch", "503") == 2);
  CHECK(http.requests("/v4/batch", "200") == 1);
  // The first GET's 502 is also cut short by the reset: four failed attempts in all.
  CHECK(http.requests("/v4/batch/{id}", "502") == 2);
  std::size_t retries = 0;
  for (const auto& line : r.log) retries += contains(line, "retrying");
  CHECK(retries == 4);
  check_against_service(http, sink, "people", batch_ids(r.report).at(0));
}

TEST_CASE("a 429 storm: rate-limited requests wait out Retry-After, however long the storm") {
  SUBCASE("the tenant's rate limit, across several queries") {
    auto opts = emulator_options();
    opts.rate_limit = 3;
    opts.rate_window = std::chrono::seconds(1);
    emulator::server srv(opts);
    srv.start();
    asio::io_context io;
    recording_sink sink;
    const auto job = batch_job({query("a", "select Id from Account limit 5"), query("b", "select Id from Contact limit 6"),
                                query("c", "select Id from Product limit 7")});
    const run_result r = run(io, source_for(srv), job, {&sink});
    CHECK_MESSAGE(r.report.status == aquaduct::outcome::completed, r.report.error.value_or(""));
    emulator_http http(io, srv);
    CHECK(http.requests("/v4/batch", "429") + http.requests("/v4/batch/{id}", "429") +
              http.requests("/oauth/token", "429") >= 1);
    CHECK(committed_rows(sink, "a") == 5);
    CHECK(committed_rows(sink, "b") == 6);
    CHECK(committed_rows(sink, "c") == 7);
  }
  SUBCASE("twice as many 429s in a row as max_attempts: back-pressure, not failed attempts") {
    const auto storm = 2 * source_config{}.retry.max_attempts;
    emulator::server srv(emulator_options(R"({"rules":[{"path":"/v4/batch","method":"POST","fault":"status","code":429,"retry_after_s":0,"times":)" +
                                          std::to_string(storm) + "}]}"));
    srv.start();
    asio::io_context io;
    recording_sink sink;
    const run_result r =
        run(io, source_for(srv), batch_job({query("first", "select Id from Account limit 2"), query("second", "select Id from Account limit 3")}),
            {&sink});
    CHECK_MESSAGE(r.report.status == aquaduct::outcome::completed, r.report.error.value_or(""));
    CHECK(committed_rows(sink, "first") == 2);
    CHECK(committed_rows(sink, "second") == 3);
    emulator_http http(io, srv);
    CHECK(http.requests("/v4/batch", "429") == storm);
  }
}

TEST_CASE("Errored, unreadable and never-ending batches fail their own query, naming the batch id") {
  emulator::server srv(emulator_options());
  srv.start();
  asio::io_context io;
  emulator_http http(io, srv);
  recording_sink sink;
  const auto src = source_for(srv);
  // Learn the id the service gives the next batch from a first run.
  const run_result first = run(io, src, batch_job({query("probe", "select Id from Account limit 1")}), {&sink});
  REQUIRE(first.report.status == aquaduct::outcome::completed);
  const long long next = std::stoll(batch_ids(first.report).at(0)) + 1;

  const auto arm = [&](const std::string& body, const std::string& times) {
    std::string rule = R"({"rules":[{"path":"/v4/batch/*","method":"GET","fault":"status","code":200,"body":)" +
                       engine_detail::json_quote(body) + times + "}]}";
    REQUIRE(http.call("POST", "/_emulator/faults", rule).status == 200);
  };
  SUBCASE("Errored, Error, Cancelled") {
    long long id = next;
    for (const std::string status : {"Errored", "Error", "Cancelled"}) {
      CAPTURE(status);
      arm(R"({"batchId":)" + std::to_string(id) + R"(,"batchStatus":")" + status + R"("})", R"(,"times":1)");
      const run_result r = run(io, src, batch_job({query("bad", "select Id from Account limit 2"), query("good", "select Id from Account limit 2")}), {&sink});
      CHECK(r.report.status == aquaduct::outcome::failed);
      CHECK(r.report.queries[0].status == aquaduct::outcome::failed);
      REQUIRE(r.report.queries[0].error);
      CHECK(*r.report.queries[0].error == "job crm, query bad, batch " + std::to_string(id) + " ended " + status);
      CHECK(r.report.queries[1].status == aquaduct::outcome::completed);
      CHECK(sink.find("bad__type_1").empty());
      id += 2;  // the good query's batch took the next id
    }
  }
  SUBCASE("not JSON") {
    arm("{\"batchId\":", R"(,"times":1)");
    const run_result r = run(io, src, batch_job({query("bad", "select Id from Account limit 2")}), {&sink});
    CHECK(r.report.queries[0].status == aquaduct::outcome::failed);
    REQUIRE(r.report.queries[0].error);
    CHECK(contains(*r.report.queries[0].error, "job crm, query bad, batch " + std::to_string(next) + ": GET /v4/batch/"));
  }
  SUBCASE("still InProgress at poll.timeout_s: cancelled on the service") {
    arm(R"({"batchId":)" + std::to_string(next) + R"(,"batchStatus":"InProgress"})", "");
    auto slow = src;
    slow.poll.timeout_s = 1;
    const run_result r = run(io, slow, batch_job({query("slow", "select Id from Account limit 2")}), {&sink});
    CHECK(r.report.queries[0].status == aquaduct::outcome::failed);
    REQUIRE(r.report.queries[0].error);
    CHECK(contains(*r.report.queries[0].error, "job crm, query slow, batch " + std::to_string(next) +
                                                   ": still InProgress after 1 s; DELETE answered batchStatus "));
    CHECK(sink.find("slow__type_1").empty());
  }
}

TEST_CASE("sink failures: every stream is committed exactly once or aborted; a failing sink aborts only its query") {
  emulator::server srv(emulator_options());
  srv.start();
  asio::io_context io;
  const auto job = batch_job({query("a", "select Id, BillToContact.FirstName from Account limit 4"),
                              query("b", "select Id, BillToContact.FirstName from Account limit 5"),
                              query("c", "select Id from Contact limit 6")});
  for (const auto step : {recording_sink::step::open, recording_sink::step::write, recording_sink::step::commit}) {
    CAPTURE(static_cast<int>(step));
    recording_sink good;
    // Fails at `step` for b's Contact table (type_2), the second table of its batch.
    recording_sink flaky("flaky", step, "b__type_2");
    const run_result r = run(io, source_for(srv), job, {&good, &flaky});

    CHECK(r.report.status == aquaduct::outcome::failed);
    CHECK(r.report.queries[0].status == aquaduct::outcome::completed);
    CHECK(r.report.queries[2].status == aquaduct::outcome::completed);
    const query_report& b = r.report.queries[1];
    CHECK(b.status == aquaduct::outcome::failed);
    REQUIRE(b.error);
    CHECK(contains(*b.error, "job crm, query b, batch " + batch_ids(r.report).at(1)));
    CHECK(contains(*b.error, "b__type_2"));
    CHECK(contains(*b.error, "flaky"));

    for (const recording_sink* s : {&good, &flaky}) {
      CAPTURE(s->type());
      for (const auto& st : s->streams) {
        CAPTURE(st->schema.query);
        CHECK(st->commits.size() + st->aborts == 1);  // exactly one of commit or abort
        if (st->schema.query[0] != 'b') CHECK(st->commits.size() == 1);
      }
    }
    CHECK(committed_rows(good, "a") == committed_rows(flaky, "a"));
    CHECK(committed_rows(good, "c") == 6);
    CHECK(committed_rows(flaky, "c") == 6);
    // Before the commits nothing of b is visible; a commit failure can leave
    // only the tables committed before it, and the message names them.
    if (step != recording_sink::step::commit) {
      CHECK(committed_rows(good, "b") == 0);
      CHECK(committed_rows(flaky, "b") == 0);
    } else {
      CHECK(good.find("b__type_1").at(0)->commits.size() == 1);
      CHECK(contains(*b.error, "(already committed: b__type_1 in recording, b__type_1 in flaky, b__type_2 in recording)"));
      CHECK(good.find("b__relationships").at(0)->aborts == 1);
    }
  }
}

TEST_CASE("refused credentials stop the job: auth_refused, no query runs after the first") {
  emulator::server srv(emulator_options());
  srv.start();
  asio::io_context io;
  recording_sink sink;
  auto src = source_for(srv);
  src.auth.password = "not-the-password";
  const run_result r =
      run(io, src, batch_job({query("a", "select Id from Account limit 1"), query("b", "select Id from Account limit 1")}), {&sink});
  CHECK(r.report.status == aquaduct::outcome::failed);
  CHECK(r.report.auth_refused);
  REQUIRE(r.report.queries[1].error);
  CHECK(contains(*r.report.queries[1].error, "not run"));
  CHECK(sink.streams.empty());
  for (const auto& q : r.report.queries) CHECK_FALSE(contains(q.error.value_or(""), "not-the-password"));
  emulator_http http(io, srv);
  // Only the first query asked: as many refusals as a job of that query alone gets.
  const auto refused = http.requests("/v4/batch", "401");
  CHECK(refused >= 1);
  run(io, src, batch_job({query("a", "select Id from Account limit 1")}), {&sink});
  CHECK(http.requests("/v4/batch", "401") == 2 * refused);
  CHECK(http.requests("/v4/batch", "200") == 0);
}

TEST_CASE("cancelling the job while a batch is pending cancels that batch on the service and the rest never run") {
  // Every poll answers InProgress; the first one is a 503, whose retry is where the test cancels.
  emulator::server srv(emulator_options(R"({"rules":[
      {"path":"/v4/batch/*","method":"GET","fault":"status","code":503,"times":1},
      {"path":"/v4/batch/*","method":"GET","fault":"status","code":200,"body":"{\"batchId\":0,\"batchStatus\":\"InProgress\"}"}]})"));
  srv.start();
  asio::io_context io;
  recording_sink sink;
  const auto src = source_for(srv);
  const auto job = batch_job({query("a", "select Id from Account limit 1"), query("b", "select Id from Account limit 1")});
  asio::cancellation_signal cancel;
  engine_detail::run_context ctx;
  ctx.source = src;
  ctx.aqua = engine_detail::make_aqua_session(io.get_executor(), src, "test.toml",
                                              engine_detail::run_log([&](const log_record& r) {
                                                if (contains(r.message, "retrying GET /v4/batch/"))
                                                  asio::post(io, [&] { cancel.emit(asio::cancellation_type::terminal); });
                                              }));
  ctx.sinks = {&sink};
  std::optional<job_report> report;
  asio::co_spawn(io, run_batch_results_job(ctx, job, inline_delivery()),
                 asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, job_report r) {
                   REQUIRE_FALSE(e);
                   report = std::move(r);
                 }));
  io.run();

  REQUIRE(report);
  CHECK(report->status == aquaduct::outcome::cancelled);
  REQUIRE(report->queries.size() == 2);
  CHECK(report->queries[0].status == aquaduct::outcome::cancelled);
  CHECK(report->queries[1].status == aquaduct::outcome::cancelled);
  REQUIRE(report->queries[0].error);
  const std::string id = batch_ids(*report).at(0);
  CHECK(contains(*report->queries[0].error, "job crm, query a, batch " + id + ": cancelled while waiting"));
  CHECK(contains(*report->queries[0].error, "DELETE answered batchStatus "));
  CHECK(batch_ids(*report).size() == 1);  // b was never submitted
  CHECK(sink.streams.empty());
}
