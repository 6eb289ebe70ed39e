// The describe answers (aqua-contract.md §5.6): small XML documents, read
// by expat into a minimal tree (elements, attributes, text), then mapped
// onto the models. No entity declarations, no namespaces: the service sends
// none.
#include "decode/aqua_models.hpp"
#include "decode/decode_error.hpp"

#include <expat.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

namespace aquaduct::decode {

namespace {

struct xml_failure {
  errc code;
  std::string what;
};

struct node {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string text;
  std::vector<node> children;

  const node* child(std::string_view n) const {
    for (const node& c : children)
      if (c.name == n) return &c;
    return nullptr;
  }
  std::string child_text(std::string_view n) const {
    const node* c = child(n);
    return c ? trimmed(c->text) : std::string();
  }
  std::string attribute(std::string_view n) const {
    for (const auto& [k, v] : attributes)
      if (k == n) return v;
    return {};
  }
  static std::string trimmed(std::string_view s) {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return std::string(s);
  }
};

// The document as a tree, read by expat (a push parser, fed the whole body
// here: describe answers are small). Entity declarations are refused (the
// service sends no DTD, and they are how an XML bomb starts); the depth is
// bounded.
class xml_reader {
 public:
  explicit xml_reader(std::string_view s) : s_(s) {}

  node document() {
    std::unique_ptr<std::remove_pointer_t<XML_Parser>, decltype(&XML_ParserFree)> parser(XML_ParserCreate("UTF-8"),
                                                                                         &XML_ParserFree);
    if (!parser) throw xml_failure{errc::xml_invalid, "cannot create an XML parser"};
    XML_Parser p = parser.get();
    current_ = p;
    XML_SetUserData(p, this);
    XML_SetElementHandler(p, &xml_reader::on_start, &xml_reader::on_end);
    XML_SetCharacterDataHandler(p, &xml_reader::on_text);
    XML_SetEntityDeclHandler(p, &xml_reader::on_entity_decl);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    const auto len = static_cast<int>(std::min<std::size_t>(s_.size(), std::numeric_limits<int>::max()));
    if (s_.size() > static_cast<std::size_t>(len)) throw xml_failure{errc::xml_invalid, "the document is too large"};
    if (XML_Parse(p, s_.data(), len, XML_TRUE) != XML_STATUS_OK) {
      const auto at = XML_GetCurrentByteIndex(p);
      const std::string why = stop_.empty() ? XML_ErrorString(XML_GetErrorCode(p)) : stop_;
      throw xml_failure{errc::xml_invalid, why + " at byte " + std::to_string(at < 0 ? 0 : at)};
    }
    if (!root_) throw xml_failure{errc::xml_invalid, "no root element"};
    return std::move(*root_);
  }

 private:
  static constexpr std::size_t max_depth = 64;

  static void XMLCALL on_start(void* self, const XML_Char* name, const XML_Char** attributes) {
    auto& r = *static_cast<xml_reader*>(self);
    if (r.open_.size() >= max_depth) return r.stop("elements nested too deeply");
    node n;
    n.name = name;
    for (const XML_Char** a = attributes; a && *a; a += 2) n.attributes.emplace_back(a[0], a[1]);
    if (r.open_.empty()) {
      r.root_ = std::move(n);
      r.open_.push_back(&*r.root_);
    } else {
      r.open_.push_back(&r.open_.back()->children.emplace_back(std::move(n)));
    }
  }
  static void XMLCALL on_end(void* self, const XML_Char*) { static_cast<xml_reader*>(self)->open_.pop_back(); }
  static void XMLCALL on_text(void* self, const XML_Char* text, int len) {
    auto& r = *static_cast<xml_reader*>(self);
    if (!r.open_.empty()) r.open_.back()->text.append(text, static_cast<std::size_t>(len));
  }
  static void XMLCALL on_entity_decl(void* self, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                                     const XML_Char*, const XML_Char*, const XML_Char*) {
    static_cast<xml_reader*>(self)->stop("entity declarations are not accepted");
  }
  void stop(std::string why) {
    if (stop_.empty()) stop_ = std::move(why);
    XML_StopParser(parser_of_current(), XML_FALSE);
  }
  XML_Parser parser_of_current() const { return current_; }

  std::string_view s_;
  std::optional<node> root_;
  std::vector<node*> open_;  // the elements not yet closed, outermost first
  std::string stop_;         // why a handler stopped the parser
  XML_Parser current_ = nullptr;
};

bool truthy(const std::string& s) { return s == "true" || s == "1"; }

describe_object_ref object_ref(const node& n) {
  describe_object_ref r{n.child_text("name"), n.child_text("label"), n.attribute("href")};
  if (r.name.empty()) throw xml_failure{errc::xml_missing_field, "<object> without <name>"};
  return r;
}

template <class Fn>
void with_document(std::string_view xml, std::string_view root, std::error_code& ec, std::string& what, Fn&& fn) {
  try {
    const node doc = xml_reader(xml).document();
    if (doc.name != root)
      throw xml_failure{errc::xml_missing_field, "root element <" + doc.name + ">, expected <" + std::string(root) + ">"};
    fn(doc);
    ec.clear();
  } catch (const xml_failure& f) {
    ec = f.code;
    what = f.what;
  }
}

}  // namespace

bool describe_field::exportable() const {
  return std::find(contexts.begin(), contexts.end(), "export") != contexts.end();
}

void parse_describe_list(std::string_view xml, std::vector<describe_object_ref>& out, std::error_code& ec,
                         std::string& what) {
  out.clear();
  with_document(xml, "objects", ec, what, [&](const node& doc) {
    for (const node& c : doc.children)
      if (c.name == "object") out.push_back(object_ref(c));
  });
  if (ec) out.clear();
}

void parse_describe_object(std::string_view xml, describe_object& out, std::error_code& ec, std::string& what) {
  out = describe_object{};
  with_document(xml, "object", ec, what, [&](const node& doc) {
    out.name = doc.child_text("name");
    out.label = doc.child_text("label");
    if (out.name.empty()) throw xml_failure{errc::xml_missing_field, "<object> without <name>"};
    if (const node* fields = doc.child("fields")) {
      for (const node& f : fields->children) {
        if (f.name != "field") continue;
        describe_field d;
        d.name = f.child_text("name");
        if (d.name.empty()) throw xml_failure{errc::xml_missing_field, "<field> without <name> in " + out.name};
        d.label = f.child_text("label");
        d.type = f.child_text("type");
        if (f.child("selectable")) d.selectable = truthy(f.child_text("selectable"));
        d.required = truthy(f.child_text("required"));
        if (const node* contexts = f.child("contexts"))
          for (const node& c : contexts->children)
            if (c.name == "context") d.contexts.push_back(node::trimmed(c.text));
        out.fields.push_back(std::move(d));
      }
    }
    if (const node* related = doc.child("related-objects"))
      for (const node& r : related->children)
        if (r.name == "object") out.related.push_back(object_ref(r));
  });
  if (ec) out = describe_object{};
}

}  // namespace aquaduct::decode
