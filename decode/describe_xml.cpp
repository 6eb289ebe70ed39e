// The describe answers (aqua-contract.md §5.6): small XML documents, read
// into a minimal tree by a minimal reader (elements, attributes, text,
// the five named entities and numeric ones, comments, CDATA, declarations),
// then mapped onto the models. No DTDs, no namespaces: the service sends none.
#include "decode/aqua_models.hpp"
#include "decode/decode_error.hpp"

#include <algorithm>

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

class xml_reader {
 public:
  explicit xml_reader(std::string_view s) : s_(s) {}

  node document() {
    skip_misc();
    node root = element(0);
    skip_misc();
    if (i_ != s_.size()) fail("content after the root element");
    return root;
  }

 private:
  static constexpr int max_depth = 64;

  [[noreturn]] void fail(const std::string& why) const {
    throw xml_failure{errc::xml_invalid, why + " at byte " + std::to_string(i_)};
  }
  bool starts(std::string_view t) const { return s_.substr(i_, t.size()) == t; }
  void skip_past(std::string_view t) {
    const std::size_t at = s_.find(t, i_);
    if (at == std::string_view::npos) fail("unterminated '" + std::string(t) + "'");
    i_ = at + t.size();
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  // Whitespace, declarations, comments and doctype around the root element.
  void skip_misc() {
    if (i_ == 0 && starts("\xEF\xBB\xBF")) i_ = 3;
    for (;;) {
      skip_space();
      if (starts("<?")) skip_past("?>");
      else if (starts("<!--")) skip_past("-->");
      else if (starts("<!")) skip_past(">");
      else return;
    }
  }
  std::string_view name() {
    const std::size_t from = i_;
    while (i_ < s_.size() && std::string_view(" \t\r\n/>=<\"'&").find(s_[i_]) == std::string_view::npos) ++i_;
    if (i_ == from) fail("expected a name");
    return s_.substr(from, i_ - from);
  }
  void expect(char c) {
    if (i_ >= s_.size() || s_[i_] != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  // Appends `raw` with its entity references resolved.
  void decode_into(std::string& out, std::string_view raw) {
    for (std::size_t k = 0; k < raw.size(); ++k) {
      if (raw[k] != '&') {
        out += raw[k];
        continue;
      }
      const std::size_t semi = raw.find(';', k);
      if (semi == std::string_view::npos || semi - k > 12) fail("bad entity reference");
      const std::string_view ent = raw.substr(k + 1, semi - k - 1);
      if (ent == "amp") out += '&';
      else if (ent == "lt") out += '<';
      else if (ent == "gt") out += '>';
      else if (ent == "quot") out += '"';
      else if (ent == "apos") out += '\'';
      else if (ent.size() > 1 && ent[0] == '#') append_code_point(out, ent.substr(1));
      else fail("unknown entity &" + std::string(ent) + ";");
      k = semi;
    }
  }
  void append_code_point(std::string& out, std::string_view num) {
    const bool hex = num[0] == 'x';
    if (hex) num.remove_prefix(1);
    if (num.empty()) fail("bad character reference");
    std::uint32_t cp = 0;
    for (char c : num) {
      int d = c >= '0' && c <= '9' ? c - '0' : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                                            : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0 || cp > 0x10FFFF) fail("bad character reference");
      cp = cp * (hex ? 16u : 10u) + static_cast<std::uint32_t>(d);
    }
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail("bad character reference");
    const auto byte = [&](std::uint32_t b) { out += static_cast<char>(b); };
    if (cp < 0x80) byte(cp);
    else if (cp < 0x800) byte(0xC0 | (cp >> 6)), byte(0x80 | (cp & 0x3F));
    else if (cp < 0x10000) byte(0xE0 | (cp >> 12)), byte(0x80 | ((cp >> 6) & 0x3F)), byte(0x80 | (cp & 0x3F));
    else
      byte(0xF0 | (cp >> 18)), byte(0x80 | ((cp >> 12) & 0x3F)), byte(0x80 | ((cp >> 6) & 0x3F)),
          byte(0x80 | (cp & 0x3F));
  }

  node element(int depth) {
    if (depth > max_depth) fail("elements nested too deeply");
    expect('<');
    node n;
    n.name = std::string(name());
    for (;;) {
      skip_space();
      if (starts("/>")) {
        i_ += 2;
        return n;
      }
      if (starts(">")) {
        ++i_;
        break;
      }
      std::string key(name());
      skip_space();
      expect('=');
      skip_space();
      if (i_ >= s_.size() || (s_[i_] != '"' && s_[i_] != '\'')) fail("expected a quoted attribute value");
      const char q = s_[i_++];
      const std::size_t close = s_.find(q, i_);
      if (close == std::string_view::npos) fail("unterminated attribute value");
      std::string value;
      decode_into(value, s_.substr(i_, close - i_));
      i_ = close + 1;
      n.attributes.emplace_back(std::move(key), std::move(value));
    }
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated element <" + n.name + ">");
      if (starts("</")) {
        i_ += 2;
        if (name() != n.name) fail("mismatched end tag for <" + n.name + ">");
        skip_space();
        expect('>');
        return n;
      }
      if (starts("<!--")) {
        skip_past("-->");
      } else if (starts("<![CDATA[")) {
        i_ += 9;
        const std::size_t close = s_.find("]]>", i_);
        if (close == std::string_view::npos) fail("unterminated CDATA");
        n.text.append(s_.substr(i_, close - i_));
        i_ = close + 3;
      } else if (starts("<?")) {
        skip_past("?>");
      } else if (s_[i_] == '<') {
        n.children.push_back(element(depth + 1));
      } else {
        const std::size_t lt = std::min(s_.find('<', i_), s_.size());
        decode_into(n.text, s_.substr(i_, lt - i_));
        i_ = lt;
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
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
