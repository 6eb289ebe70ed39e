#pragma once
// One query's result files on their way to the sinks:
//   body bytes -> content decoder (identity | gzip | zip) -> CSV parser -> row_batch -> sink streams
// Synchronous and free of I/O, so it can be fed any chunk split in tests.
// Each file starts with its own header; the first file's header opens the
// sink streams, later files (segments) must repeat it exactly.
// Errors throw std::system_error naming the job, query, file and the record
// or byte offset.
#include "decode/content_decoder.hpp"
#include "decode/pgp_decoder.hpp"
#include "decode/csv_parser.hpp"
#include "engine/zoql_text.hpp"

#include <aquaduct/sink.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_set>
#include <vector>

namespace aquaduct::engine_detail {

// An error whose message already names its job, query and file, and says
// what went wrong: what() is exactly that text (std::system_error would
// append the code's message a second time).
class located_error : public std::system_error {
 public:
  located_error(std::error_code ec, std::string what) : std::system_error(ec), what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

class result_pipeline {
 public:
  // `format` is the job's result format: "csv", "gzip" or "zip" (any case);
  // anything else throws located_error (aqua_errc::bad_response).
  result_pipeline(std::string format, stream_schema schema, std::vector<sink*> sinks);
  ~result_pipeline();  // aborts streams that were neither committed nor aborted

  // The query's select list: when the first header arrives, the base Id's
  // column in it becomes schema().key_column (zoql_text.hpp, locate_base_id).
  void key_by(select_shape shape) { key_shape_ = std::move(shape); }
  // The column types: when the first header arrives, `typer` gives one per
  // column and they become schema().types (engine/column_types.hpp).
  void type_by(std::function<std::vector<column_type>(const std::vector<std::string>&)> typer) {
    typer_ = std::move(typer);
  }

  // A backfill's catch-up (window_group): the key of every row written is
  // added to `keys`, or rows whose key is in `keys` are dropped (parsed and
  // counted in rows(), never written). The set must outlive the calls that
  // use it; nullptr stops. Both need the key column (key_by).
  void collect_keys(std::unordered_set<std::string>* keys) { collect_ = keys; }
  void drop_keys(const std::unordered_set<std::string>* keys) { drop_ = keys; }
  // Rows whose deleted column says true are dropped (parsed, never written):
  // a load that replaces the sinks' content has no deletions to apply.
  void drop_deleted(bool on) { drop_deleted_ = on; }

  // Result files are PGP-encrypted (a job with encrypted = "pgp"): each is
  // decrypted with `key` in front of the format's decoder. Before begin_file().
  void decrypt_with(std::shared_ptr<const decode::pgp_secret_key> key) { pgp_ = std::move(key); }

  void begin_file(std::string file_id);
  void put(std::string_view body_bytes);
  void end_file();

  // After the last end_file(): the rows parsed must be the batch's
  // recordCount, or the result is incomplete (aqua_errc::record_count_mismatch).
  void expect_rows(std::uint64_t record_count) const;

  // Whether the sink streams are open (a header arrived).
  bool opened() const noexcept { return !streams_.empty() || header_seen_; }
  // Opens the sink streams with no columns: a full load whose batch the
  // service completed without any file (sink.hpp, streams with no columns).
  void open_without_file();

  // Commits every sink stream. Call once after the last end_file().
  void commit(const file_token& token);
  // Discards everything written to the sinks so far.
  void abort() noexcept;

  std::uint64_t rows() const noexcept { return rows_; }  // parsed (what recordCount counts)
  std::uint64_t rows_written() const noexcept { return rows_ - rows_dropped_; }  // handed to the sinks
  std::uint64_t bytes_in() const noexcept { return bytes_in_; }
  std::uint64_t bytes_decoded() const noexcept { return bytes_decoded_; }
  std::uint64_t files() const noexcept { return files_; }
  const stream_schema& schema() const noexcept { return schema_; }
  // "job J, query Q, file F": the prefix of every error message.
  std::string location() const;

 private:
  void drain(std::string_view decoded);
  void resolve_deleted_column();
  void resolve_key_column();
  void deliver();
  // Whether row r of `batch` is left out (drop_keys, drop_deleted).
  bool dropped(const row_batch& batch, std::size_t r) const;
  // Writes the batch minus its dropped rows (copying the kept rows: a batch's
  // fields are contiguous views).
  void write_filtered(const row_batch& batch);
  [[noreturn]] void fail(std::error_code ec, const std::string& detail) const;
  [[noreturn]] void fail_decode(std::error_code ec) const;  // with the compressed byte offset
  [[noreturn]] void fail_parse(std::error_code ec) const;   // with the record and byte offset

  std::string format_;
  std::unique_ptr<decode::content_decoder> decoder_;  // set between begin_file and end_file
  std::shared_ptr<const decode::pgp_secret_key> pgp_;  // null: not encrypted
  decode::csv_parser parser_;
  stream_schema schema_;
  std::vector<sink*> sinks_;
  std::optional<select_shape> key_shape_;
  std::function<std::vector<column_type>(const std::vector<std::string>&)> typer_;
  std::unordered_set<std::string>* collect_ = nullptr;
  const std::unordered_set<std::string>* drop_ = nullptr;
  bool drop_deleted_ = false;
  std::optional<std::size_t> deleted_index_;  // the deleted column, once the header is known
  std::string kept_data_;
  std::vector<std::size_t> kept_fields_, kept_rows_;
  std::uint64_t rows_dropped_ = 0;
  std::vector<std::unique_ptr<sink_stream>> streams_;
  std::vector<char> out_;
  std::string file_id_;
  bool header_pending_ = false;
  bool header_seen_ = false;
  bool finished_ = false;
  std::uint64_t rows_ = 0;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_decoded_ = 0;
  std::uint64_t files_ = 0;
};

}  // namespace aquaduct::engine_detail
