#pragma once
// A push-style RFC 4180 CSV parser.
//
// Feed bytes in chunks of any size with put(); complete records accumulate in
// records(), a compact batch: one byte buffer holding the unescaped field
// contents back to back, plus two offset arrays. Call clear_records() once the
// batch has been consumed; the record still in progress is kept.
//
// Handles quotes, doubled quotes, separators and CR/LF inside quotes, LF and
// CRLF record ends, a missing final newline (finish()), a UTF-8 BOM at the very
// start, empty fields and empty records, and records split at any byte.
// No allocation per record once the buffers have grown to the working size.
//
// Where RFC 4180 leaves room, the choices are: a '"' inside an unquoted field
// is data (many producers write them); a CR not followed by LF ends a record
// like LF does (old Mac line ends); after a closing quote only a quote, ','
// CR or LF may follow, anything else is csv_bad_quote; a BOM anywhere but at
// byte 0, or a BOM prefix that does not complete, is data.
//
// Two inner loops, one behaviour: a scalar state machine, and a SIMD path
// (AVX2 compares + a carry-less multiply for the quote mask, as in simdcsv)
// that handles whole 64-byte blocks of well-formed fields and hands anything
// else to the scalar loop.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace aquaduct::decode {

struct csv_limits {
  std::size_t max_field_bytes = 64u << 20;  // one field's unescaped size
  std::size_t max_columns = 16384;          // fields in one record
};

// A batch of complete records.
//   field i of the batch  = data().substr(field_offsets()[i], field_offsets()[i+1] - field_offsets()[i])
//   record r              = fields [record_offsets()[r], record_offsets()[r+1])
// field_offsets() has fields+1 entries, record_offsets() has records+1 entries.
// An empty line is a record with one empty field.
// THE VIEWS ARE VALID ONLY UNTIL the next put(), finish(), clear_records() or reset().
class csv_records {
 public:
  std::size_t size() const noexcept { return record_offsets_.size() - 1; }
  bool empty() const noexcept { return size() == 0; }
  std::string_view data() const noexcept { return data_view_; }
  std::span<const std::size_t> field_offsets() const noexcept { return {field_offsets_.data(), fields_ + 1}; }
  std::span<const std::size_t> record_offsets() const noexcept { return record_offsets_; }
  std::size_t field_count(std::size_t record) const noexcept {
    return record_offsets_[record + 1] - record_offsets_[record];
  }
  std::string_view field(std::size_t record, std::size_t col) const noexcept {
    const std::size_t i = record_offsets_[record] + col;
    return data_view_.substr(field_offsets_[i], field_offsets_[i + 1] - field_offsets_[i]);
  }

 private:
  friend class csv_parser;
  std::string_view data_view_;               // complete records' bytes only
  std::vector<std::size_t> field_offsets_;   // may hold the partial record's offsets past fields_
  std::size_t fields_ = 0;                   // complete fields
  std::vector<std::size_t> record_offsets_{0};
};

// Which inner loop parses. `automatic` is the SIMD path where the CPU has
// AVX2 and PCLMUL (checked at run time; the build never assumes them), the
// scalar one elsewhere. `simd` on a CPU without them falls back to scalar.
// Both give identical records, errors and offsets; forcing is for tests and
// benchmarks.
enum class csv_path { automatic, simd, scalar };

class csv_parser {
 public:
  explicit csv_parser(csv_limits limits = {}, csv_path path = csv_path::automatic);

  // True where this CPU can run the SIMD path.
  static bool simd_supported() noexcept;
  // True when this parser uses it.
  bool simd() const noexcept { return simd_; }

  // Parses all of `in` unless an error occurs; returns the bytes consumed.
  // On error, `ec` is set (decode::errc) and error_record()/error_offset()
  // tell where. After an error the parser must be reset().
  std::size_t put(std::string_view in, std::error_code& ec);

  // End of input: a final record without a newline is completed. Error if
  // the input ends inside a quoted field.
  void finish(std::error_code& ec);

  const csv_records& records() const noexcept { return records_; }
  void clear_records();

  // Records completed since reset() (the header counts as a record).
  std::uint64_t records_total() const noexcept { return records_total_; }
  // Bytes consumed since reset().
  std::uint64_t bytes_total() const noexcept { return bytes_total_; }
  // 1-based number of the record in which the error occurred, and the byte
  // offset (0-based, from the start of the stream) of the offending byte.
  // For csv_unterminated_quote the offset is the end of the input.
  std::uint64_t error_record() const noexcept { return error_record_; }
  std::uint64_t error_offset() const noexcept { return error_offset_; }

  // Ready for a new file; buffers are kept.
  void reset();

 private:
  csv_limits limits_;
  bool simd_ = false;
  // The SIMD path does not start again before this point of the current
  // put(): past a block it could not classify, the scalar loop goes first.
  const char* scalar_until_ = nullptr;
  csv_records records_;
  // The unescaped bytes of complete records + the partial one. Like a
  // std::string, but the SIMD path may write whole 32-byte stores past its
  // end (into reserved room) and then advance by the bytes that count.
  class byte_buffer {
   public:
    char* data() noexcept { return store_.get(); }
    const char* data() const noexcept { return store_.get(); }
    std::size_t size() const noexcept { return size_; }
    std::size_t room() const noexcept { return cap_ - size_; }
    char* end() noexcept { return store_.get() + size_; }
    void advance(std::size_t n) noexcept { size_ += n; }
    void clear() noexcept { size_ = 0; }
    void reserve_more(std::size_t n) {
      if (room() < n) grow(size_ + n);
    }
    void append(const char* b, const char* e);
    void push_back(char c) {
      reserve_more(1);
      store_[size_++] = c;
    }
    void erase_front(std::size_t n) noexcept;

   private:
    void grow(std::size_t need);
    std::unique_ptr<char[]> store_;
    std::size_t size_ = 0;
    std::size_t cap_ = 0;
  };
  byte_buffer buf_;
  int state_ = 0;
  bool at_stream_start_ = true;
  std::uint64_t records_total_ = 0;
  std::uint64_t bytes_total_ = 0;
  std::uint64_t error_record_ = 0;
  std::uint64_t error_offset_ = 0;
  std::size_t bom_matched_ = 0;
  bool record_started_ = false;  // a byte of the current record has been seen

  // Parses [p, end); `base` is the stream offset of p. Returns where it stopped
  // (end, or the offending byte on error).
  const char* parse(const char* p, const char* end, std::uint64_t base, std::error_code& ec);
  // The SIMD path, from a field start: emits the complete fields of whole
  // 64-byte blocks and returns at a field start (or in after_cr). It never
  // fails: anything unusual (a stray quote, a limit) is left to the scalar
  // loop, which then produces the same result or error as without it.
  const char* parse_simd(const char* p, const char* end);
  void append_unescaped(const char* b, const char* e);
  // Feeds the bytes of a BOM prefix that turned out to be data; false on error.
  bool parse_bom_prefix(std::error_code& ec);
  bool end_field(char ender, std::uint64_t offset, std::error_code& ec);
  // end_field() for a field ended by `ender` (',' CR or LF), then the state that follows it.
  bool end_field_at(char ender, std::uint64_t offset, std::error_code& ec);
  void end_record();
  bool field_fits(std::uint64_t offset, std::error_code& ec);
  void fail(std::error_code& ec, std::error_code code, std::uint64_t offset);
  void publish() noexcept;
};

}  // namespace aquaduct::decode
