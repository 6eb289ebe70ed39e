// for_each_result_row: which rows a result holds, and in which order
// (declared in result_writer.hpp).
#include <limits>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <queue>
#include <string>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include "emulator/result_writer.hpp"

namespace aquaduct::emulator {

namespace {

const object_def* object_of_id(std::string_view id) {
  if (id.size() != 32) return nullptr;
  std::uint32_t prefix = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    const char c = id[i];
    const unsigned v = c >= '0' && c <= '9' ? static_cast<unsigned>(c - '0') : static_cast<unsigned>(c - 'a' + 10);
    prefix = prefix << 4 | (v & 0xf);
  }
  for (const object_def* o : all_objects())
    if (o->id_prefix == prefix) return o;
  return nullptr;
}

// Follows a relationship's foreign keys from the base row, remembering the
// last row of every hop (consecutive rows mostly share their parents).
class join_resolver {
 public:
  join_resolver(const tenant_state& s, const relation_def& rel) : state_(s), rel_(rel) {
    for (std::string_view f : rel.path)
      if (!f.empty()) hops_.emplace_back();
  }

  const record* resolve(const object_def& base, const record& row) {
    const object_def* obj = &base;
    const record* cur = &row;
    for (std::size_t h = 0; h < hops_.size(); ++h) {
      const auto f = find_field(*obj, rel_.path[h]);
      if (!f) return nullptr;
      const field_value& v = (*cur)[*f];
      if (v.is_null() || v.s.empty()) return nullptr;
      hop& hp = hops_[h];
      if (!hp.valid || hp.id != v.s) {
        hp.id = v.s;
        hp.valid = true;
        hp.live = false;
        hp.obj = object_of_id(v.s);
        if (hp.obj != nullptr) {
          const auto idx = tenant_generator::index_of_id(*hp.obj, v.s);
          if (idx && *idx < state_.row_count(*hp.obj))
            hp.live = state_.row(*hp.obj, *idx, hp.rec) == tenant_state::row_status::live;
        }
      }
      if (!hp.live) return nullptr;
      obj = hp.obj;
      cur = &hp.rec;
    }
    return cur;
  }

 private:
  struct hop {
    bool valid = false;
    bool live = false;
    std::string id;
    const object_def* obj = nullptr;
    record rec;
  };
  const tenant_state& state_;
  const relation_def& rel_;
  std::vector<hop> hops_;
};

// Loads rows with their joins into `slots`.
class row_loader {
 public:
  row_loader(const tenant_state& s, const zoql_query& q) : state_(s), q_(q), recs_(1 + q.joins.size()) {
    for (const relation_def* r : q.joins) joins_.emplace_back(s, *r);
    slots_.resize(recs_.size());
  }

  tenant_state::row_status load_base(std::uint64_t index, std::int64_t* deleted_at) {
    return state_.row(*q_.object, index, recs_[0], deleted_at);
  }
  void load_joins() {
    slots_[0] = &recs_[0];
    for (std::size_t j = 0; j < joins_.size(); ++j) slots_[j + 1] = joins_[j].resolve(*q_.object, recs_[0]);
  }
  row_slots slots() const { return slots_; }
  const record& base() const { return recs_[0]; }

 private:
  const tenant_state& state_;
  const zoql_query& q_;
  std::vector<record> recs_;
  std::vector<join_resolver> joins_;
  std::vector<const record*> slots_;
};

// Order-preserving byte encoding of the order-by keys, then the row index
// (unique, so the order is total and stable) and the deleted flag.
void encode_key(const zoql_query& q, row_slots slots, std::uint64_t index, bool deleted, std::string& out) {
  out.clear();
  const auto put_u64 = [&out](std::uint64_t v) {
    for (int s = 56; s >= 0; s -= 8) out += static_cast<char>((v >> s) & 0xff);
  };
  for (const order_key& k : q.order_by) {
    const std::size_t start = out.size();
    const field_value& v = column_value(k.column, slots);
    if (v.is_null()) {
      out += '\x00';  // DECISION: nulls sort first ascending, last descending
    } else {
      out += '\x01';
      if (v.k == field_value::kind::text) {
        out += v.s;
        out += '\x00';
      } else if (v.k == field_value::kind::exact) {
        append_decimal_key(v.s, out);
      } else {
        put_u64(static_cast<std::uint64_t>(v.i) ^ 0x8000000000000000ULL);
      }
    }
    if (k.descending)
      for (std::size_t i = start; i < out.size(); ++i) out[i] = static_cast<char>(~static_cast<unsigned char>(out[i]));
  }
  put_u64(index);
  out += deleted ? '\x01' : '\x00';
}

std::uint64_t key_index(std::string_view key) {
  std::uint64_t v = 0;
  for (std::size_t i = key.size() - 9; i < key.size() - 1; ++i) v = v << 8 | static_cast<unsigned char>(key[i]);
  return v;
}

struct byte_less {
  bool operator()(const std::string& a, const std::string& b) const {
    const int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
    return c != 0 ? c < 0 : a.size() < b.size();
  }
};

// A sorted run of keys on disk: u32 length + bytes, repeated.
class run_file {
 public:
  run_file(const std::filesystem::path& p, const char* mode) : path_(p), f_(std::fopen(p.c_str(), mode)) {
    if (f_ == nullptr) throw std::runtime_error(fmt::format("cannot open sort run {}", p.string()));
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 16);
  }
  ~run_file() {
    if (f_ != nullptr) std::fclose(f_);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  run_file(const run_file&) = delete;
  run_file& operator=(const run_file&) = delete;

  void put(const std::string& k) {
    const auto n = static_cast<std::uint32_t>(k.size());
    if (std::fwrite(&n, sizeof n, 1, f_) != 1 || std::fwrite(k.data(), 1, k.size(), f_) != k.size())
      throw std::runtime_error(fmt::format("cannot write sort run {}", path_.string()));
  }
  void rewind_for_read() {
    if (std::fflush(f_) != 0) throw std::runtime_error(fmt::format("cannot write sort run {}", path_.string()));
    std::rewind(f_);
  }
  bool get(std::string& k) {
    std::uint32_t n = 0;
    if (std::fread(&n, sizeof n, 1, f_) != 1) return false;
    k.resize(n);
    if (std::fread(k.data(), 1, n, f_) != n)
      throw std::runtime_error(fmt::format("cannot read sort run {}", path_.string()));
    return true;
  }

 private:
  std::filesystem::path path_;
  std::FILE* f_;
};

std::atomic<std::uint64_t> run_serial{0};  // unique run file names across jobs

}  // namespace

void for_each_result_row(const tenant_snapshot& snapshot, const export_spec& spec,
                         const std::filesystem::path& scratch_dir, const std::function<void(const result_row&)>& fn) {
  const tenant_state& st = *snapshot;
  const zoql_query& q = spec.query;
  const object_def& obj = *q.object;
  const std::uint64_t total = st.row_count(obj);
  const std::size_t updated_f = *find_field(obj, "UpdatedDate");
  const std::size_t created_f = *find_field(obj, "CreatedDate");
  const std::int64_t now = spec.now_unix_s;
  const auto check_cancel = [&spec](std::uint64_t n) {
    if ((n & 4095) == 0 && spec.cancel != nullptr && spec.cancel->load(std::memory_order_relaxed))
      throw export_cancelled{};
  };

  row_loader rows(st, q);
  // Whether base row `i` (loaded) belongs to the result, and as deleted or not.
  const auto admit = [&](tenant_state::row_status status, std::int64_t deleted_at, bool& deleted) {
    deleted = status == tenant_state::row_status::deleted;
    if (!spec.incremental) {
      // A full load has no deleted rows; a stateless export with forceExport
      // has the tombstones of the last 30 days (contract §3.5, §8).
      if (!deleted) return true;
      return spec.deleted && spec.force_export && deleted_at >= now - deleted_retention_s;
    }
    const time_window& w = *spec.incremental;
    const auto in_window = [&w](std::int64_t t) { return (!w.from_unix_s || t >= *w.from_unix_s) && t < w.to_unix_s; };
    if (!deleted) return in_window(rows.base()[updated_f].i);
    if (!spec.deleted || !in_window(deleted_at) || deleted_at < now - deleted_retention_s) return false;
    // Created and deleted inside one window: never seen, not returned.
    return !(w.from_unix_s && rows.base()[created_f].i >= *w.from_unix_s);
  };

  const std::uint64_t limit = q.limit.value_or(UINT64_MAX);
  std::uint64_t skipped = 0, emitted = 0;
  const auto emit = [&](bool deleted) {
    if (skipped < q.offset) {
      ++skipped;
      return true;
    }
    if (emitted >= limit) return false;
    fn(result_row{rows.slots(), deleted});
    ++emitted;
    return emitted < limit;
  };

  // Rows whose UpdatedDate the WHERE rules out are skipped before they are built.
  const auto [updated_first, updated_last] = base_time_range(q, updated_f, now, spec.zone);
  const bool by_updated = updated_first != std::numeric_limits<std::int64_t>::min() ||
                          updated_last != std::numeric_limits<std::int64_t>::max();
  // Which base rows may match, in index order (Id order): from the first
  // past every `Id > 'x'` of the WHERE (a keyset page starts at its first
  // row), and, when the WHERE bounds UpdatedDate to a small part of the
  // object, only the rows the service's UpdatedDate index has in range plus
  // every row changed since the index was built (the overlay). `matches`
  // checks each row in full either way.
  std::uint64_t first = 0;
  for (const text_floor& f : base_text_floors(q, *find_field(obj, "Id"))) {
    std::uint64_t lo = first, hi = total;  // Ids grow with the index: the first row past f
    while (lo < hi) {
      const std::uint64_t mid = lo + (hi - lo) / 2;
      const std::string id = st.generator().make_id(obj, mid);
      if (f.strict ? id > f.value : id >= f.value) hi = mid;
      else lo = mid + 1;
    }
    first = lo;
  }
  std::vector<std::uint64_t> picked;
  bool use_picked = false;
  if (by_updated && total > first)
    if (const auto index = st.generator().updated_index_of(obj);
        index && index->count_in(updated_first, updated_last) < (total - first) / 4) {
      index->rows_in(updated_first, updated_last, first, picked);
      if (const object_overlay* o = st.overlay(obj)) o->indexes(picked);
      for (std::uint64_t i = std::max(first, st.generator().base_count(obj)); i < total; ++i) picked.push_back(i);
      std::erase_if(picked, [&](std::uint64_t i) { return i < first || i >= total; });
      std::sort(picked.begin(), picked.end());
      picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
      use_picked = true;
    }
  // Calls body(i) for each such row while it returns true.
  const auto each_row = [&](const auto& body) {
    if (use_picked) {
      for (const std::uint64_t i : picked)
        if (!body(i)) return;
      return;
    }
    for (std::uint64_t i = first; i < total; ++i)
      if (!body(i)) return;
  };

  // Loads row i with its joins; true when it belongs to the result.
  std::uint64_t visited = 0;
  const auto matches = [&](std::uint64_t i, bool& deleted) {
    check_cancel(visited++);
    if (by_updated) {
      const std::int64_t u = st.updated_at(obj, i, updated_f);
      if (u < updated_first || u > updated_last) return false;
    }
    std::int64_t deleted_at = 0;
    const auto status = rows.load_base(i, &deleted_at);
    if (!admit(status, deleted_at, deleted)) return false;
    rows.load_joins();
    return zoql_matches(q, rows.slots(), now, spec.zone);
  };

  // Ids are 32 hex digits whose last 16 are the row's index + 1 (created rows
  // too), so index order is Id order: `order by Id` needs no sort.
  const bool by_id = q.order_by.size() == 1 && !q.order_by[0].descending && q.order_by[0].column.slot == 0 &&
                     q.order_by[0].column.object == &obj && obj.fields[q.order_by[0].column.field].name == "Id";
  if (q.order_by.empty() || by_id) {
    each_row([&](std::uint64_t i) {
      bool deleted = false;
      return !matches(i, deleted) || emit(deleted);
    });
    return;
  }

  // order by: sort keys in memory, spilling sorted runs past sort_run_rows.
  const std::uint64_t run_rows = std::max<std::uint64_t>(spec.sort_run_rows, 1);
  std::vector<std::string> keys;
  std::vector<std::unique_ptr<run_file>> runs;
  std::string key;
  const auto spill = [&] {
    std::sort(keys.begin(), keys.end(), byte_less{});
    auto run = std::make_unique<run_file>(
        scratch_dir / fmt::format(".sort-{}-{}.run", ::getpid(), run_serial.fetch_add(1)), "w+b");
    for (const std::string& k : keys) run->put(k);
    run->rewind_for_read();
    runs.push_back(std::move(run));
    keys.clear();
  };
  each_row([&](std::uint64_t i) {
    bool deleted = false;
    if (!matches(i, deleted)) return true;
    encode_key(q, rows.slots(), i, deleted, key);
    keys.push_back(key);
    if (keys.size() >= run_rows) spill();
    return true;
  });
  const auto output = [&](const std::string& k) {
    std::int64_t deleted_at = 0;
    rows.load_base(key_index(k), &deleted_at);
    rows.load_joins();
    return emit(k.back() != '\0');
  };
  std::uint64_t n = 0;
  if (runs.empty()) {
    std::sort(keys.begin(), keys.end(), byte_less{});
    for (const std::string& k : keys) {
      check_cancel(++n);
      if (!output(k)) return;
    }
    return;
  }
  if (!keys.empty()) spill();
  // k-way merge of the runs: a heap of run numbers ordered by their current
  // key (keys stay in place, never copied).
  std::vector<std::string> current(runs.size());
  const auto greater = [&current](std::size_t a, std::size_t b) { return byte_less{}(current[b], current[a]); };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(greater)> heap(greater);
  for (std::size_t r = 0; r < runs.size(); ++r)
    if (runs[r]->get(current[r])) heap.push(r);
  while (!heap.empty()) {
    check_cancel(++n);
    const std::size_t r = heap.top();
    heap.pop();
    if (!output(current[r])) return;
    if (runs[r]->get(current[r])) heap.push(r);
  }
}

}  // namespace aquaduct::emulator
