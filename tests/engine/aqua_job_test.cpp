#include "engine/aqua_job.hpp"

#include <doctest/doctest.h>

#include <simdjson.h>

using namespace aquaduct;

TEST_CASE("poll delays grow by the multiplier up to the cap; full jitter scales them") {
  poll_config p;
  p.initial_ms = 500;
  p.max_ms = 4000;
  p.multiplier = 2.0;
  p.full_jitter = false;
  CHECK(engine_detail::poll_delay(p, 0, 0.3).count() == 500);
  CHECK(engine_detail::poll_delay(p, 1, 0.3).count() == 1000);
  CHECK(engine_detail::poll_delay(p, 3, 0.3).count() == 4000);
  CHECK(engine_detail::poll_delay(p, 30, 0.3).count() == 4000);
  p.full_jitter = true;
  CHECK(engine_detail::poll_delay(p, 1, 0.5).count() == 500);
  CHECK(engine_detail::poll_delay(p, 1, 0.0).count() == 1);
}

TEST_CASE("the submit body is valid JSON carrying every configured field") {
  job_config job;
  job.name = "bill\"ing";
  job.format = "csv";
  job.version = "1.1";
  job.use_query_labels = false;
  job.null_replacement = "NULL";
  query_config q;
  q.name = "Account";
  q.query = "select Id from Account where Name = 'a\\b'\n";
  q.deleted = deleted_config{"IsDeleted", "Numeric", true};
  job.queries.push_back(q);

  const std::string body = engine_detail::submit_body(job);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(body);
  CHECK(std::string_view(doc["name"]) == "bill\"ing");
  CHECK(std::string_view(doc["format"]) == "csv");
  CHECK(std::string_view(doc["version"]) == "1.1");
  CHECK(bool(doc["useQueryLabels"]) == false);
  CHECK(bool(doc["dateTimeUtc"]) == true);
  CHECK(std::string_view(doc["nullReplacement"]) == "NULL");
  simdjson::dom::element q0 = doc["queries"].at(0);
  CHECK(std::string_view(q0["query"]) == q.query);
  CHECK(std::string_view(q0["type"]) == "zoqlexport");
  CHECK(std::string_view(q0["deleted"]["column"]) == "IsDeleted");
  CHECK(std::string_view(q0["deleted"]["format"]) == "Numeric");
  CHECK(bool(q0["deleted"]["forceExport"]) == true);
}

TEST_CASE("a job that ran out of processing time is told by its error code (90027, 90029), never by words") {
  decode::aqua_job job;
  job.status = "aborted";
  decode::aqua_batch b;
  b.status = "aborted";
  b.message = "the query timed out";  // words alone decide nothing
  job.batches.push_back(b);
  CHECK_FALSE(engine_detail::ran_out_of_time(job));
  job.batches[0].error_code = "90027";
  CHECK(engine_detail::ran_out_of_time(job));
  job.batches[0].error_code.clear();
  job.batches[0].message = "90029: exceeded max time in Processing state";
  CHECK(engine_detail::error_code_of(job.batches[0]) == "90029");
  CHECK(engine_detail::ran_out_of_time(job));
  job.batches[0].message = "90007 job aborted";
  CHECK(engine_detail::error_code_of(job.batches[0]) == "90007");
  CHECK_FALSE(engine_detail::ran_out_of_time(job));
  job.batches[0].message = "900271: no code";
  CHECK(engine_detail::error_code_of(job.batches[0]).empty());
  job.batches.clear();
  job.error_code = "90029";
  CHECK(engine_detail::ran_out_of_time(job));
}
