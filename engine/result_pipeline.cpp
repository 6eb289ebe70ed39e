#include "engine/result_pipeline.hpp"

#include "decode/decode_error.hpp"

#include <aquaduct/error.hpp>

#include <algorithm>

namespace aquaduct::engine_detail {

result_pipeline::result_pipeline(std::string format, stream_schema schema, std::vector<sink*> sinks)
    : format_(std::move(format)), schema_(std::move(schema)), sinks_(std::move(sinks)) {
  // The decoder and its buffers are made per file (begin_file) and dropped
  // after it, so a pipeline waiting for a download slot costs next to nothing.
  if (!decode::make_content_decoder(format_))
    throw located_error(aqua_errc::bad_response, "job " + schema_.job + ", query " + schema_.query +
                                                     ": unknown result format '" + format_ + "' (csv, gzip or zip)");
}

result_pipeline::~result_pipeline() { abort(); }

std::string result_pipeline::location() const {
  return "job " + schema_.job + ", query " + schema_.query + ", file " + file_id_;
}

void result_pipeline::fail(std::error_code ec, const std::string& detail) const {
  throw located_error(ec, location() + ": " + detail);
}

void result_pipeline::fail_decode(std::error_code ec) const {
  fail(ec, ec.message() + " at compressed byte " + std::to_string(decoder_->total_in()));
}

void result_pipeline::fail_parse(std::error_code ec) const {
  fail(ec, ec.message() + " at record " + std::to_string(parser_.error_record()) + ", byte offset " +
               std::to_string(parser_.error_offset()));
}

void result_pipeline::begin_file(std::string file_id) {
  file_id_ = std::move(file_id);
  decoder_ = decode::make_content_decoder(format_);
  if (pgp_) decoder_ = decode::make_pgp_decoder(std::move(decoder_), pgp_);
  out_.resize(256u << 10);
  parser_.reset();
  header_pending_ = true;
}

void result_pipeline::put(std::string_view body) {
  bytes_in_ += body.size();
  while (!body.empty()) {
    std::error_code ec;
    const auto r = decoder_->put(body, out_, ec);
    if (ec) fail_decode(ec);
    body.remove_prefix(r.consumed);
    drain(std::string_view(out_.data(), r.produced));
    if (r.consumed == 0 && r.produced == 0)
      fail(aqua_errc::bad_response, "the decoder made no progress at compressed byte " +
                                           std::to_string(decoder_->total_in()));
  }
}

void result_pipeline::end_file() {
  // Flush what the decoder still holds, then check the stream really ended.
  for (;;) {
    std::error_code ec;
    const auto r = decoder_->put({}, out_, ec);
    if (ec) fail_decode(ec);
    if (r.produced == 0) break;
    drain(std::string_view(out_.data(), r.produced));
  }
  std::error_code ec;
  decoder_->finish(ec);
  if (ec) fail(ec, ec.message() + " after " + std::to_string(decoder_->total_in()) + " compressed bytes");
  parser_.finish(ec);
  if (ec) fail_parse(ec);
  deliver();
  if (header_pending_) fail(aqua_errc::bad_response, "the result file is empty: no header line");
  ++files_;
  decoder_.reset();
  std::vector<char>().swap(out_);
  parser_ = decode::csv_parser{};
}

void result_pipeline::drain(std::string_view decoded) {
  bytes_decoded_ += decoded.size();
  while (!decoded.empty()) {
    std::error_code ec;
    const std::size_t used = parser_.put(decoded, ec);
    if (ec) fail_parse(ec);
    decoded.remove_prefix(used);
    deliver();
  }
}

void result_pipeline::deliver() {
  const decode::csv_records& recs = parser_.records();
  if (recs.empty()) return;
  std::size_t first = 0;
  if (header_pending_) {
    std::vector<std::string> header;
    for (std::size_t c = 0; c < recs.field_count(0); ++c) header.emplace_back(recs.field(0, c));
    if (streams_.empty() && files_ == 0) {
      schema_.columns = std::move(header);
      resolve_deleted_column();
      resolve_key_column();
      if (typer_) schema_.types = typer_(schema_.columns);
      for (sink* s : sinks_) streams_.push_back(s->open(schema_));
      header_seen_ = true;
    } else if (header != schema_.columns) {
      fail(aqua_errc::header_mismatch, "its header differs from the first file's header");
    }
    header_pending_ = false;
    first = 1;
  }
  // Every row must have the header's shape; a ragged row means the file is damaged.
  const std::size_t width = schema_.columns.size();
  for (std::size_t r = first; r < recs.size(); ++r)
    if (recs.field_count(r) != width)
      fail(aqua_errc::bad_response, "record " + std::to_string(parser_.records_total() - recs.size() + r + 1) + " has " +
                                        std::to_string(recs.field_count(r)) + " fields, the header has " +
                                        std::to_string(width));
  if (recs.size() > first) {
    const row_batch batch(schema_, recs.data(), recs.field_offsets(), recs.record_offsets().subspan(first));
    rows_ += batch.size();
    if ((drop_ && schema_.key_column) || (drop_deleted_ && deleted_index_)) {
      write_filtered(batch);
    } else {
      for (auto& stream : streams_) stream->write(batch);
      if (collect_ && schema_.key_column)
        for (std::size_t r = 0; r < batch.size(); ++r) collect_->emplace(batch.field(r, *schema_.key_column));
    }
  }
  parser_.clear_records();
}

bool result_pipeline::dropped(const row_batch& batch, std::size_t r) const {
  if (drop_deleted_ && deleted_index_) {
    const std::string_view flag = batch.field(r, *deleted_index_);
    if (flag == (schema_.deleted->format == "Numeric" ? "1" : "true")) return true;
  }
  return drop_ && schema_.key_column && drop_->count(std::string(batch.field(r, *schema_.key_column))) > 0;
}

void result_pipeline::write_filtered(const row_batch& batch) {
  std::size_t keep = 0;
  for (std::size_t r = 0; r < batch.size(); ++r) keep += !dropped(batch, r);
  rows_dropped_ += batch.size() - keep;
  if (keep == batch.size()) {
    for (auto& stream : streams_) stream->write(batch);
    return;
  }
  if (keep == 0) return;
  kept_data_.clear();
  kept_fields_.assign(1, 0);
  kept_rows_.assign(1, 0);
  for (std::size_t r = 0; r < batch.size(); ++r) {
    if (dropped(batch, r)) continue;
    for (std::size_t c = 0; c < batch.field_count(r); ++c) {
      kept_data_ += batch.field(r, c);
      kept_fields_.push_back(kept_data_.size());
    }
    kept_rows_.push_back(kept_fields_.size() - 1);
  }
  const row_batch kept(schema_, kept_data_, kept_fields_, kept_rows_);
  for (auto& stream : streams_) stream->write(kept);
}

// The service names the deleted flag `<BaseObject>.<column>` in the header
// (aqua-contract.md §4.3) while the config names just the column: the sinks
// get the header's name.
void result_pipeline::resolve_deleted_column() {
  if (!schema_.deleted) return;
  const std::string& want = schema_.deleted->column;
  const auto& cols = schema_.columns;
  if (std::find(cols.begin(), cols.end(), want) != cols.end()) return;
  for (const auto& c : cols)
    if (c.size() > want.size() && c.compare(c.size() - want.size(), want.size(), want) == 0 &&
        c[c.size() - want.size() - 1] == '.') {
      schema_.deleted->column = c;
      return;
    }
}

void result_pipeline::resolve_key_column() {
  if (schema_.deleted)
    for (std::size_t i = 0; i < schema_.columns.size(); ++i)
      if (schema_.columns[i] == schema_.deleted->column) deleted_index_ = i;
  if (!key_shape_) return;
  const bool deleted_first = schema_.deleted && !schema_.columns.empty() && schema_.columns[0] == schema_.deleted->column;
  schema_.key_column = locate_base_id(*key_shape_, schema_.columns, deleted_first);
}

void result_pipeline::open_without_file() {
  if (opened()) return;
  schema_.columns.clear();
  schema_.key_column.reset();
  schema_.types.clear();
  for (sink* s : sinks_) streams_.push_back(s->open(schema_));
  header_seen_ = true;
}

void result_pipeline::expect_rows(std::uint64_t record_count) const {
  if (rows_ == record_count) return;
  throw located_error(aqua_errc::record_count_mismatch,
                      "job " + schema_.job + ", query " + schema_.query + ": " + std::to_string(rows_) + " rows in " +
                          std::to_string(files_) + " file(s), the batch's recordCount says " +
                          std::to_string(record_count));
}

void result_pipeline::commit(const file_token& token) {
  for (auto& stream : streams_) stream->commit(token);
  finished_ = true;
}

void result_pipeline::abort() noexcept {
  if (finished_) return;
  for (auto& stream : streams_) stream->abort();
  finished_ = true;
}

}  // namespace aquaduct::engine_detail
