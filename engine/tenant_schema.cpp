#include "engine/tenant_schema.hpp"

#include "transport/redact.hpp"

#include <aquaduct/error.hpp>

#include <algorithm>
#include <cctype>

namespace aquaduct::engine_detail {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequal(std::string_view a, std::string_view b) { return a.size() == b.size() && lower(a) == lower(b); }

constexpr std::string_view xml_accept = "application/xml, text/xml;q=0.9, */*;q=0.1";

// The last path segment of an href (".../v1/describe/Contact" -> "Contact").
std::string_view last_segment(std::string_view href) {
  while (!href.empty() && href.back() == '/') href.remove_suffix(1);
  const auto slash = href.rfind('/');
  return slash == std::string_view::npos ? href : href.substr(slash + 1);
}

// Optimal string alignment distance, case-insensitive: insertions,
// deletions, substitutions and swaps of two neighbours (Nmae -> Name) cost 1.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const auto same = [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  };
  const std::size_t w = b.size() + 1;
  std::vector<std::size_t> d((a.size() + 1) * w);
  for (std::size_t i = 0; i <= a.size(); ++i) d[i * w] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t v = std::min({d[(i - 1) * w + j] + 1, d[i * w + j - 1] + 1,
                                d[(i - 1) * w + j - 1] + (same(a[i - 1], b[j - 1]) ? 0 : 1)});
      if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) && same(a[i - 2], b[j - 1]))
        v = std::min(v, d[(i - 2) * w + j - 2] + 1);
      d[i * w + j] = v;
    }
  return d[a.size() * w + b.size()];
}

}  // namespace

column_type column_type_of(std::string_view zuora_type) noexcept {
  const std::string t = lower(zuora_type);
  if (t == "boolean") return column_type::boolean;
  if (t == "integer") return column_type::integer;
  if (t == "decimal" || t == "number") return column_type::decimal;
  if (t == "date") return column_type::date;
  if (t == "datetime" || t == "timestamp") return column_type::datetime;
  return column_type::text;  // text, picklist, longtext, ZOQL, anything unknown
}

std::string tenant_schema::list_target() { return "/v1/describe"; }

std::string tenant_schema::object_target(std::string_view name) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "/v1/describe/";
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

asio::awaitable<const std::vector<decode::describe_object_ref>*> tenant_schema::objects() {
  if (list_) co_return &*list_;
  const std::string target = list_target();
  requests_.push_back("GET " + target);
  std::optional<std::string> body;
  try {
    body = co_await client_.get_text(target, std::string(xml_accept));
  } catch (const std::system_error& e) {
    throw std::system_error(e.code(), "describe of the tenant's objects: " + transport::bare_what(e));
  }
  if (!body) throw std::system_error(aqua_errc::http_error, "describe: GET " + target + ": HTTP 404");
  std::vector<decode::describe_object_ref> refs;
  std::error_code ec;
  std::string what;
  decode::parse_describe_list(*body, refs, ec, what);
  if (ec) throw std::system_error(aqua_errc::bad_response, "describe: GET " + target + ": " + what);
  list_ = std::move(refs);
  co_return &*list_;
}

asio::awaitable<const decode::describe_object*> tenant_schema::object(std::string name) {
  const std::string key = lower(name);
  if (auto it = objects_.find(key); it != objects_.end()) co_return it->second.get();
  if (list_)
    for (const auto& r : *list_)
      if (iequal(r.name, name)) name = r.name;
  const std::string target = object_target(name);
  requests_.push_back("GET " + target);
  std::optional<std::string> body;
  try {
    body = co_await client_.get_text(target, std::string(xml_accept));
  } catch (const std::system_error& e) {
    throw std::system_error(e.code(), "describe of object " + name + ": " + transport::bare_what(e));
  }
  if (!body)
    throw std::system_error(aqua_errc::unknown_object, "object " + name + " is not described by the tenant (GET " +
                                                          target + ": HTTP 404)");
  auto obj = std::make_unique<decode::describe_object>();
  std::error_code ec;
  std::string what;
  decode::parse_describe_object(*body, *obj, ec, what);
  if (ec) throw std::system_error(aqua_errc::bad_response, "describe of object " + name + ": GET " + target + ": " + what);
  const decode::describe_object* out = obj.get();
  objects_.emplace(key, std::move(obj));
  co_return out;
}

asio::awaitable<std::optional<std::string>> tenant_schema::relation_target(const decode::describe_object& base,
                                                                           std::string relation) {
  const decode::describe_object_ref* rel = find_relation(base, relation);
  if (!rel) co_return std::nullopt;
  const std::vector<decode::describe_object_ref>* all = co_await objects();
  const auto known = [&](std::string_view n) -> const decode::describe_object_ref* {
    for (const auto& o : *all)
      if (iequal(o.name, n)) return &o;
    return nullptr;
  };
  // The real service's href points at the target object; the relation's own
  // name is an object for Account, Product and the like.
  const std::string_view from_href = last_segment(rel->href);
  if (!from_href.empty() && !iequal(from_href, rel->name))
    if (const auto* o = known(from_href)) co_return o->name;
  if (const auto* o = known(rel->name)) co_return o->name;
  // BillToContact -> Contact, DefaultPaymentMethod -> PaymentMethod.
  const decode::describe_object_ref* best = nullptr;
  const std::string rel_lower = lower(rel->name);
  for (const auto& o : *all) {
    const std::string n = lower(o.name);
    if (n.size() < rel_lower.size() && rel_lower.ends_with(n) && (!best || o.name.size() > best->name.size()))
      best = &o;
  }
  if (best) co_return best->name;
  co_return std::nullopt;
}

const decode::describe_field* find_field(const decode::describe_object& object, std::string_view name) {
  for (const auto& f : object.fields)
    if (iequal(f.name, name)) return &f;
  return nullptr;
}

const decode::describe_object_ref* find_relation(const decode::describe_object& object, std::string_view name) {
  for (const auto& r : object.related)
    if (iequal(r.name, name)) return &r;
  return nullptr;
}

std::string nearest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  // A likely misspelling: a few edits, fewer than a third of the word.
  const std::size_t limit = std::max<std::size_t>(1, std::min<std::size_t>(3, word.size() / 3));
  return best_d <= limit ? best : std::string();
}

}  // namespace aquaduct::engine_detail
