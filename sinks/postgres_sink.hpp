#pragma once
// The postgres sink: one table per query, "<job>__<query>" made safe, in
// `schema`; rows arrive through COPY ... FROM STDIN, one transaction per
// committed stream. A full load truncates the table in that transaction
// (readers of the table wait until it commits); an incremental load stages
// the rows in a temporary table, then deletes the rows with the same Id and
// inserts the staged rows whose deleted column is not set. The transaction
// also records (job, query, file ids) in "_aquaduct_commits", so a replayed
// commit changes nothing.
#include <aquaduct/config.hpp>
#include <aquaduct/sink.hpp>

#include <memory>
#include <string>
#include <vector>

namespace aquaduct::sinks {

struct postgres_sink_options {
  std::string dsn;                // required: a libpq connection string or URI; put the password in ${ENV}
  std::string schema = "public";  // the schema holding the tables; created when missing

  static postgres_sink_options from(const sink_config& cfg, std::vector<std::string>& problems);
};

std::unique_ptr<sink> make_postgres_sink(postgres_sink_options opts);

}  // namespace aquaduct::sinks
