#include "engine/column_types.hpp"

#include "engine/zoql_text.hpp"

#include <aquaduct/error.hpp>

#include <algorithm>
#include <cctype>
#include <map>

namespace aquaduct::engine_detail {

namespace {

// How one object appears in headers: its name (API) and its label.
struct header_prefix {
  std::string name;
  std::string label;
};

std::string header_of(const header_prefix& p, const decode::describe_field& f, bool use_query_labels) {
  if (use_query_labels) return p.name + "." + f.name;
  return p.label + ": " + (f.label.empty() ? f.name : f.label);
}

predicted_column column_of(const header_prefix& p, const std::string& object, const decode::describe_field& f,
                           bool use_query_labels, bool from_star) {
  return {header_of(p, f, use_query_labels), column_type_of(f.type), object + "." + f.name, f.type, from_star};
}

std::vector<std::string> field_names(const decode::describe_object& o) {
  std::vector<std::string> out;
  for (const auto& f : o.fields) out.push_back(f.name);
  return out;
}

std::vector<std::string> relation_names(const decode::describe_object& o) {
  std::vector<std::string> out;
  for (const auto& r : o.related) out.push_back(r.name);
  return out;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string n = nearest(word, candidates);
  return n.empty() ? std::string() : " (did you mean " + n + "?)";
}

}  // namespace

asio::awaitable<query_columns> describe_query(tenant_schema& schema, const job_config& job, const query_config& q) {
  query_columns out;
  out.job = job.name;
  out.query = q.name;
  const std::string where = "job " + job.name + ", query " + q.name;
  std::string error;
  const std::optional<select_shape> shape = read_select(q.query, error);
  if (!shape) {
    out.problems.push_back(where + ": " + error);
    co_return out;
  }
  const decode::describe_object* base = nullptr;
  try {
    base = co_await schema.object(shape->object);
  } catch (const std::system_error& e) {
    throw std::system_error(e.code(), where + ": " + transport::bare_what(e));
  }
  out.object = base->name;
  out.objects.push_back(base->name);
  const header_prefix base_prefix{base->name, base->label.empty() ? base->name : base->label};
  const bool labels = job.use_query_labels;

  if (q.deleted) {
    const bool numeric = q.deleted->format == "Numeric";
    out.columns.push_back({base->name + "." + q.deleted->column, numeric ? column_type::integer : column_type::boolean,
                           "", numeric ? "integer" : "boolean", false});
  }

  // A relation's object, described once.
  struct joined {
    header_prefix prefix;
    const decode::describe_object* object = nullptr;
  };
  std::map<std::string, joined> joins;  // by lower-case relation name
  const auto join = [&](std::string_view relation) -> asio::awaitable<const joined*> {
    std::string key(relation);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto it = joins.find(key); it != joins.end()) co_return &it->second;
    const decode::describe_object_ref* rel = find_relation(*base, relation);
    if (!rel) {
      out.problems.push_back(where + ": " + std::string(relation) + " is not a related object of " + base->name +
                             did_you_mean(relation, relation_names(*base)));
      co_return nullptr;
    }
    const std::optional<std::string> target = co_await schema.relation_target(*base, rel->name);
    if (!target) {
      out.problems.push_back(where + ": the object related to " + base->name + " as " + rel->name +
                             " is not among the tenant's objects");
      co_return nullptr;
    }
    joined j;
    j.prefix = {rel->name, rel->label.empty() ? rel->name : rel->label};
    try {
      j.object = co_await schema.object(*target);
    } catch (const std::system_error& e) {
      throw std::system_error(e.code(), where + ": " + transport::bare_what(e));
    }
    if (std::find(out.objects.begin(), out.objects.end(), j.object->name) == out.objects.end())
      out.objects.push_back(j.object->name);
    co_return &joins.emplace(key, std::move(j)).first->second;
  };

  for (const select_item& item : shape->items) {
    const std::string& e = item.expression;
    if (item.star()) {
      const std::string prefix = e == "*" ? std::string() : e.substr(0, e.size() - 2);
      if (prefix.empty() || zoql_iequals(prefix, base->name)) {
        for (const auto& f : base->fields)
          if (f.exportable())  // foreign keys among them are left out by the service: the header decides
            out.columns.push_back(column_of(base_prefix, base->name, f, labels, true));
      } else if (const joined* j = co_await join(prefix)) {
        for (const auto& f : j->object->fields)
          if (f.exportable()) out.columns.push_back(column_of(j->prefix, j->object->name, f, labels, true));
      }
      continue;
    }
    if (!is_field_name(e)) {  // count(Id), an expression: describe cannot say
      if (item.alias.empty()) ++out.unnamed_expressions;
      else out.columns.push_back({item.alias, column_type::text, "", "", false});
      continue;
    }
    const auto dot = e.rfind('.');
    const std::string prefix = dot == std::string::npos ? std::string() : e.substr(0, dot);
    const std::string name = dot == std::string::npos ? e : e.substr(dot + 1);
    const decode::describe_object* obj = base;
    const header_prefix* hp = &base_prefix;
    if (!prefix.empty() && !zoql_iequals(prefix, base->name)) {
      const joined* j = prefix.find('.') == std::string::npos ? co_await join(prefix) : nullptr;
      if (prefix.find('.') != std::string::npos)
        out.problems.push_back(where + ": " + e + " joins more than one relation, which export ZOQL does not allow");
      if (!j) {
        out.columns.push_back({item.alias.empty() ? e : item.alias, column_type::text, "", "", false});
        continue;
      }
      obj = j->object;
      hp = &j->prefix;
    }
    const decode::describe_field* f = find_field(*obj, name);
    if (!f) {
      out.problems.push_back(where + ": " + obj->name + " has no field " + name + did_you_mean(name, field_names(*obj)));
      out.columns.push_back({item.alias.empty() ? e : item.alias, column_type::text, "", "", false});
      continue;
    }
    if (!f->exportable())
      out.problems.push_back(where + ": " + obj->name + "." + f->name + " is not exportable (describe gives it no export context)");
    predicted_column c = column_of(*hp, obj->name, *f, labels, false);
    if (!item.alias.empty()) c.header = item.alias;
    out.columns.push_back(std::move(c));
  }
  if (!q.convert_to_currencies.empty()) ++out.unnamed_expressions;  // extra currency columns at the end
  co_return out;
}

std::vector<column_type> types_for(const query_columns& cols, const std::vector<std::string>& header,
                                   std::vector<std::string>& warnings) {
  std::map<std::string, column_type> by_header;
  for (const auto& c : cols.columns) by_header.emplace(c.header, c.type);
  std::vector<column_type> out;
  out.reserve(header.size());
  std::size_t unknown = 0;
  std::vector<std::string> unpredicted;
  for (const auto& h : header) {
    if (auto it = by_header.find(h); it != by_header.end()) {
      out.push_back(it->second);
      continue;
    }
    out.push_back(column_type::text);
    ++unknown;
    unpredicted.push_back(h);
  }
  // An expression's column (count(Id)) and currency columns cannot be
  // predicted by name: that many unknown columns are expected.
  if (unknown > cols.unnamed_expressions) {
    std::string list;
    for (const auto& u : unpredicted) list += (list.empty() ? "" : ", ") + ("\"" + u + "\"");
    warnings.push_back("job " + cols.job + ", query " + cols.query + ": describe of " + cols.object +
                       " did not predict the column(s) " + list + " of the result header: typed text");
  }
  return out;
}

}  // namespace aquaduct::engine_detail
