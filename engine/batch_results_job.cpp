#include "engine/batch_results_job.hpp"

#include "decode/batch_results.hpp"
#include "engine/json_writer.hpp"
#include "engine/result_pipeline.hpp"
#include "transport/retry_policy.hpp"

#include <aquaduct/error.hpp>

#include <asio/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace aquaduct::engine_detail {

using clock = std::chrono::steady_clock;

namespace {

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

bool pending(const std::string& status) { return status == "Created" || status == "InProgress"; }

bool cancelled(const std::error_code& ec) {
  return ec == asio::error::operation_aborted || ec == make_error_condition(condition::cancelled);
}

// One table of a batch on its way to the sinks: its schema (which the streams
// and batches point at, so it must not move) and one stream per sink.
struct table_delivery {
  stream_schema schema;
  file_token token;
  std::vector<std::unique_ptr<sink_stream>> streams;  // null once committed
};

// The blocking part, run through sink_delivery: opens and writes every table
// of the batch, then commits them all. Anything thrown aborts every stream
// not yet committed and is rethrown naming the table and what was committed.
std::uint64_t deliver_tables(const std::vector<sink*>& sinks, const std::string& job, const std::string& query,
                             const decode::batch_results& doc, const std::string& where) {
  std::vector<table_delivery> tables(doc.tables.size());
  std::uint64_t rows = 0;
  std::string step;  // what was being done, for the message
  std::vector<std::string> committed;
  try {
    for (std::size_t i = 0; i < doc.tables.size(); ++i) {
      const decode::result_table& t = doc.tables[i];
      table_delivery& d = tables[i];
      d.schema.job = job;
      d.schema.job_id = doc.batch_id;
      d.schema.query = query + "__" + t.name;
      d.schema.load = load_kind::full;
      d.schema.columns = t.columns;
      d.token = file_token{doc.batch_id, d.schema.query, {doc.batch_id}, t.rows()};
      for (sink* s : sinks) {
        step = "opening " + d.schema.query + " in sink " + std::string(s->type());
        d.streams.push_back(s->open(d.schema));
      }
      if (t.rows() == 0) continue;
      const row_batch batch(d.schema, t.data, t.field_offsets, t.row_offsets);
      for (std::size_t k = 0; k < d.streams.size(); ++k) {
        step = "writing " + d.schema.query + " to sink " + std::string(sinks[k]->type());
        d.streams[k]->write(batch);
      }
      rows += t.rows();
    }
    for (table_delivery& d : tables) {
      for (std::size_t k = 0; k < d.streams.size(); ++k) {
        step = "committing " + d.schema.query + " to sink " + std::string(sinks[k]->type());
        d.streams[k]->commit(d.token);
        d.streams[k].reset();
        committed.push_back(d.schema.query + " in " + std::string(sinks[k]->type()));
      }
    }
  } catch (const std::exception& e) {
    for (table_delivery& d : tables)
      for (auto& s : d.streams)
        if (s) s->abort();
    std::string what = where + ": " + step + ": " + e.what();
    if (!committed.empty()) {
      what += " (already committed: ";
      for (std::size_t i = 0; i < committed.size(); ++i) what += (i ? ", " : "") + committed[i];
      what += ")";
    }
    const auto* se = dynamic_cast<const std::system_error*>(&e);
    // A sink's own exception (not a system_error) is sink_errc::failed, as on_sink_thread makes it.
    throw located_error(se ? se->code() : make_error_code(sink_errc::failed), what);
  }
  return rows;
}

class batch_job {
 public:
  batch_job(const run_context& ctx, const job_config& job, sink_delivery deliver)
      : ctx_(ctx), job_(job), deliver_(std::move(deliver)), client_(ctx.aqua, job.name) {}

  asio::awaitable<job_report> run() {
    job_report report;
    report.name = job_.name;
    for (const auto& q : job_.queries) report.queries.emplace_back().name = q.name;
    std::size_t failed = 0;
    for (std::size_t i = 0; i < job_.queries.size(); ++i) {
      query_report& qr = report.queries[i];
      std::error_code failure;  // what() is kept apart: copying a located_error would slice it
      try {
        co_await run_query(job_.queries[i], qr, report);
        qr.status = outcome::completed;
        continue;
      } catch (const std::system_error& e) {
        failure = e.code();
        qr.error = e.what();
      } catch (const std::exception& e) {
        failure = aqua_errc::bad_response;
        qr.error = e.what();
      }
      ++failed;
      qr.status = outcome::failed;
      if (cancelled(failure)) {
        report.status = outcome::cancelled;
        report.error = "job " + job_.name + " cancelled";
        for (std::size_t j = i; j < report.queries.size(); ++j) report.queries[j].status = outcome::cancelled;
        co_return report;
      }
      if (failure == make_error_condition(condition::auth)) {
        // Every other query would be refused too.
        report.auth_refused = true;
        report.status = outcome::failed;
        report.error = qr.error;
        for (std::size_t j = i + 1; j < report.queries.size(); ++j) {
          report.queries[j].status = outcome::failed;
          report.queries[j].error = "job " + job_.name + ", query " + report.queries[j].name +
                                    ": not run: authentication was refused";
        }
        co_return report;
      }
    }
    report.status = failed ? outcome::failed : outcome::completed;
    if (failed)
      report.error = "job " + job_.name + ": " + std::to_string(failed) + " of " +
                     std::to_string(report.queries.size()) + " batches failed";
    co_return report;
  }

 private:
  // Throws located_error naming job, query and batch; the caller reports it.
  asio::awaitable<void> run_query(const query_config& q, query_report& qr, job_report& report) {
    const std::string where = "job " + job_.name + ", query " + q.name;
    const auto submitted = clock::now();
    decode::batch_results doc;
    std::string body;
    try {
      body = co_await client_.post_json("/v4/batch", "{\"query\":" + json_quote(q.query) + "}");
    } catch (const std::system_error& e) {
      throw located_error(e.code(), where + ": " + e.what());
    }
    read(body, doc, where + ": POST /v4/batch");
    const std::string id = doc.batch_id;
    const job_meter m = ctx_.meter(job_.name);
    if (report.job_id.empty()) m.add(&run_counters::jobs_submitted, 1u);
    struct active_batch {  // on the service from the POST until its terminal status (or we give up)
      job_meter m;
      explicit active_batch(job_meter meter) : m(meter) { m.add(&run_counters::jobs_active, 1u); }
      ~active_batch() { m.sub(&run_counters::jobs_active, 1u); }
    };
    std::optional<active_batch> active(std::in_place, m);
    ctx_.log.info({.message = "submitted", .job = job_.name, .query = q.name, .batch = id});
    report.job_id += (report.job_id.empty() ? "" : ",") + id;
    report.submit_s += seconds_since(submitted);
    const std::string at = where + ", batch " + id;

    // Always fetch at least once: only a GET carries the results.
    const auto waiting = clock::now();
    const auto give_up = waiting + std::chrono::seconds(ctx_.source.poll.timeout_s);
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (unsigned attempt = 0; attempt == 0 || pending(doc.batch_status); ++attempt) {
      if (clock::now() >= give_up)
        co_await abandon(at, id, aqua_errc::job_timeout,
                         "still " + doc.batch_status + " after " + std::to_string(ctx_.source.poll.timeout_s) + " s");
      timer.expires_after(std::min<clock::duration>(
          poll_delay(ctx_.source.poll, attempt, transport::jitter_unit()),
          give_up - clock::now() + std::chrono::milliseconds(1)));
      std::error_code ec;  // co_await is not allowed in a handler: act below
      std::string what;
      try {
        co_await timer.async_wait(asio::use_awaitable);
        body = co_await client_.get_json("/v4/batch/" + id);
      } catch (const std::system_error& e) {
        ec = e.code();
        what = e.what();
      }
      if (ec && cancelled(ec)) {
        // Awaiting anything while the cancellation is pending throws at once.
        co_await asio::this_coro::reset_cancellation_state();
        co_await abandon(at, id, ec, "cancelled while waiting");
      }
      if (ec) throw located_error(ec, at + ": " + what);
      read(body, doc, at + ": GET /v4/batch/" + id);
      if (doc.batch_id != id)
        throw located_error(aqua_errc::bad_response, at + ": GET /v4/batch/" + id + " answered batch " + doc.batch_id);
    }
    report.wait_s += seconds_since(waiting);
    active.reset();

    if (doc.batch_status == "Errored" || doc.batch_status == "Error")
      throw located_error(aqua_errc::job_failed, at + " ended " + doc.batch_status);
    if (doc.batch_status == "Cancelled") throw located_error(aqua_errc::job_cancelled, at + " ended Cancelled");
    if (doc.batch_status != "Complete")
      throw located_error(aqua_errc::bad_response, at + ": unknown batchStatus \"" + doc.batch_status + "\"");

    const auto delivering = clock::now();
    qr.files = 1;
    qr.bytes_downloaded = body.size();
    qr.bytes_decoded = body.size();
    std::uint64_t rows = 0;
    co_await deliver_([&] { rows = deliver_tables(ctx_.sinks, job_.name, q.name, doc, at); });
    qr.rows = rows;
    m.add(&run_counters::rows, rows);
    m.add(&run_counters::rows_committed, rows);
    m.add(&run_counters::bytes_downloaded, std::uint64_t{body.size()});
    m.add(&run_counters::bytes_decoded, std::uint64_t{body.size()});
    ctx_.log.info({.message = fmt::format("committed {} rows", rows), .job = job_.name, .query = q.name, .batch = id});
    qr.download_s = seconds_since(delivering);
  }

  void read(std::string_view body, decode::batch_results& doc, const std::string& where) {
    std::error_code ec;
    std::string what;
    decoder_.parse(body, doc, ec, what);
    if (ec) throw located_error(aqua_errc::bad_response, where + ": " + what);
  }

  // Cancels the batch on the service, freeing the tenant's slot (10 at most),
  // then throws `why`. The service may have finished it meanwhile: the
  // message says what DELETE answered. After our own cancellation the caller
  // resets the cancellation state first, so the DELETE is still sent (bounded
  // by the request deadline).
  asio::awaitable<void> abandon(const std::string& at, const std::string& id, std::error_code why,
                                const std::string& what) {
    std::string note;
    try {
      const std::string body = co_await client_.delete_json("/v4/batch/" + id);
      decode::batch_results doc;
      read(body, doc, at + ": DELETE /v4/batch/" + id);
      note = "; DELETE answered batchStatus " + doc.batch_status;
    } catch (const std::system_error& e) {
      note = "; cancelling it failed too: " + std::string(e.what());
    }
    throw located_error(why, at + ": " + what + note);
  }

  const run_context& ctx_;
  const job_config& job_;
  sink_delivery deliver_;
  aqua_client client_;
  decode::batch_results_decoder decoder_;
};

}  // namespace

asio::awaitable<job_report> run_batch_results_job(const run_context& ctx, const job_config& job,
                                                  sink_delivery deliver) {
  batch_job runner(ctx, job, std::move(deliver));
  co_return co_await runner.run();
}

}  // namespace aquaduct::engine_detail
