#include "emulator/batch_results.hpp"

#include <cstdio>
#include <map>
#include <set>

#include <fmt/format.h>

#include "emulator/json_writer.hpp"

namespace aquaduct::emulator {

namespace {

std::int64_t record_id(const object_def& obj, const record& r) {
  const auto idx = tenant_generator::index_of_id(obj, r[0].s);
  return idx ? static_cast<std::int64_t>(*idx) + 1 : 0;
}

std::string title_of(const object_def& obj, const record& r) {
  for (std::string_view f : {"Name", "AccountNumber", "InvoiceNumber", "PaymentNumber", "ChargeName", "Number"})
    if (const auto i = find_field(obj, f); i && !r[*i].is_null()) return r[*i].s;
  return r[0].s;
}

void typed_value(json_writer& w, const field_value& v, const export_spec& spec) {
  std::string s;
  switch (v.k) {
    case field_value::kind::null: w.null(); return;
    case field_value::kind::text: w.value(v.s); return;
    case field_value::kind::boolean: w.value(v.i != 0); return;
    case field_value::kind::exact: w.raw(v.s); return;  // a JSON number, every digit kept
    case field_value::kind::number:
      render_value(v, spec.tz, s, spec.zone);
      w.raw(s);
      return;
    case field_value::kind::date:
    case field_value::kind::datetime:
      render_value(v, spec.tz, s, spec.zone);
      w.value(s);
      return;
  }
}

struct entry_status {
  int code;
  std::string_view message;
};

std::string_view outcome_message(int code) {
  switch (code) {
    case 400: return "Invalid Record.";
    case 403: return "Access Denied.";
    case 404: return "Record Not Found.";
    case 409: return "Record Locked.";
    default: return "";
  }
}

// The status `outcomes` gives the record, else `otherwise`.
entry_status status_of(const batch_outcomes& outcomes, const record& r, entry_status otherwise) {
  const auto it = outcomes.find(r[0].s);
  return it == outcomes.end() ? otherwise : entry_status{it->second, outcome_message(it->second)};
}

// One record entry of the document.
void write_entry(json_writer& w, const object_def& obj, const record& r, const export_spec& spec, std::size_t slot,
                 entry_status st) {
  w.begin_object();
  w.key("record").begin_object();
  w.key("characteristics").begin_object();
  if (st.code < 300) {
    for (const select_column& c : spec.query.columns) {
      if (c.column.slot != slot) continue;
      const field_value& v = r[c.column.field];
      if (v.is_null()) continue;  // a missing key is an empty field
      w.key(c.alias.empty() ? obj.fields[c.column.field].name : std::string_view{c.alias});
      typed_value(w, v, spec);
    }
  }
  w.end_object();
  w.key("template").begin_object().member("templateId", obj.char_type_id).end_object();
  w.member("title", title_of(obj, r));
  w.end_object();
  w.member("code", st.code).member("message", st.message).member("id", record_id(obj, r));
  w.end_object();
}

}  // namespace

bool batch_outcome_code(int code) { return !outcome_message(code).empty(); }

batch_results_info write_batch_results_json(const tenant_snapshot& snapshot, const export_spec& spec,
                                            std::int64_t batch_id, std::string_view batch_status,
                                            const std::filesystem::path& path, const batch_outcomes& outcomes) {
  const zoql_query& q = spec.query;
  const object_def& base = *q.object;
  const std::size_t created_f = *find_field(base, "CreatedDate");
  batch_results_info info;
  // Entries per char type id, in first-seen order of types; joined rows once.
  std::map<int, json_writer> groups;
  std::vector<int> order;
  std::set<std::pair<int, std::int64_t>> seen;
  json_writer rels;
  rels.begin_array();
  const auto group = [&](int type) -> json_writer& {
    auto [it, fresh] = groups.try_emplace(type);
    if (fresh) {
      order.push_back(type);
      it->second.begin_array();
    }
    return it->second;
  };
  if (batch_status == "Complete") {
    for_each_result_row(snapshot, spec, path.parent_path(), [&](const result_row& r) {
      const record& row = *r.slots[0];
      entry_status st{200, "Found."};
      if (r.deleted) {
        st = {404, "Record Not Found."};
      } else if (spec.incremental && spec.incremental->from_unix_s && row[created_f].i >= *spec.incremental->from_unix_s) {
        st = {201, "Created."};
      } else if (spec.incremental) {
        st = {200, "Updated."};
      }
      st = status_of(outcomes, row, st);
      write_entry(group(base.char_type_id), base, row, spec, 0, st);
      ++info.records;
      const std::int64_t child_id = record_id(base, row);
      for (std::size_t s = 1; s < r.slots.size(); ++s) {
        if (r.slots[s] == nullptr) continue;
        const object_def& obj = *find_object(q.joins[s - 1]->target);
        const std::int64_t id = record_id(obj, *r.slots[s]);
        const entry_status parent = status_of(outcomes, *r.slots[s], {200, "Found."});
        if (seen.insert({obj.char_type_id, id}).second) {
          write_entry(group(obj.char_type_id), obj, *r.slots[s], spec, s, parent);
          ++info.records;
        }
        const entry_status rel = st.code >= 300 ? st : parent.code >= 300 ? parent : entry_status{200, "Found."};
        ++info.relationships;
        rels.begin_object();
        rels.key("relationship").begin_object();
        rels.member("parentCharTypeId", obj.char_type_id).member("parentRecordId", id);
        rels.member("childCharTypeId", base.char_type_id).member("childRecordId", child_id);
        rels.end_object();
        rels.member("code", rel.code).member("message", rel.message).member("id", info.relationships);
        rels.end_object();
      }
    });
  }
  rels.end_array();

  json_writer doc;
  doc.begin_object();
  doc.member("batchId", batch_id).member("batchStatus", batch_status);
  doc.key("batchResults").begin_object();
  doc.key("records").begin_object();
  for (int type : order) doc.key(std::to_string(type)).raw(groups[type].end_array().str());
  doc.end_object();
  doc.key("relationships").raw(rels.str());
  doc.end_object();
  doc.end_object();

  const std::string& text = doc.str();
  const std::filesystem::path part = path.string() + ".part";
  std::FILE* f = std::fopen(part.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error(fmt::format("cannot create batch results file {}", part.string()));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) {
    std::error_code ec;
    std::filesystem::remove(part, ec);
    throw std::runtime_error(fmt::format("cannot write batch results file {}", part.string()));
  }
  std::error_code ec;
  std::filesystem::rename(part, path, ec);
  if (ec) {
    std::filesystem::remove(part, ec);
    throw std::runtime_error(fmt::format("cannot rename batch results file {}", part.string()));
  }
  info.bytes = text.size();
  return info;
}

}  // namespace aquaduct::emulator
