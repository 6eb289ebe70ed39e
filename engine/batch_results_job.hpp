#pragma once
// A job of kind batch_results (aqua-contract.md §6): each [[jobs.queries]]
// `query` is one JSON batch. Per query, in the job's order:
//   POST /v4/batch {"query": ...} -> batchId
//   poll GET /v4/batch/{id} with the [source.poll] backoff until a terminal
//     batchStatus, or DELETE it and fail after poll.timeout_s
//   decode the Complete document (decode::batch_results_decoder) into tables
//   deliver every table to every sink as its own stream:
//     job = job name, job_id = batchId, query = "<query name>__<table>"
//     (people__type_2, people__relationships), load full, text columns,
//     committed with file_token {batchId, that stream's query, {batchId}, rows}
// A query's streams are all opened and written before any is committed, so
// a failure while opening or writing aborts every stream of that query and
// nothing of it is visible; only a failing commit can leave the tables
// committed before it (the error then names them).
//
// A failed query (Errored/Error/Cancelled, timeout, an HTTP error after the
// retries, bad JSON, a document over the decoder's limit, a sink exception)
// fails its own query_report with a message naming job, query and batch id;
// the other queries still run. Authentication refused stops the job (the
// queries not yet run fail too). Cancelling the coroutine through its
// cancellation slot while a batch is pending DELETEs that batch, then marks
// the query in flight and the rest "cancelled" (job status "cancelled").
// NEVER THROWS: every failure is in the job_report.
//
// The report: job_id = the batch ids, comma-separated in query order;
// submit_s and wait_s summed over the batches; per query, files = 1 (the
// document), bytes_downloaded = bytes_decoded = its size, rows = rows of all
// its tables. Queries run one after another, so a job never holds more than
// one of the tenant's 10 batch slots.
#include "engine/aqua_job.hpp"

#include <asio/awaitable.hpp>

#include <functional>

namespace aquaduct::engine_detail {

// Runs `work` (the blocking sink open/write/commit/abort calls of one query)
// where sinks may block, e.g. the engine's sink thread pool, and resumes
// when it has finished, rethrowing what it threw. Tests run it inline.
using sink_delivery = std::function<asio::awaitable<void>(std::function<void()> work)>;

// `ctx` and `job` MUST outlive the coroutine: await it directly.
asio::awaitable<job_report> run_batch_results_job(const run_context& ctx, const job_config& job, sink_delivery deliver);

}  // namespace aquaduct::engine_detail
