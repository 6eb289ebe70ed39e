#include "emulator/describe.hpp"

#include <fmt/format.h>

#include "emulator/tenant.hpp"

namespace aquaduct::emulator {

namespace {

void append_xml_text(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
}

std::string_view type_name(field_type t) {
  switch (t) {
    case field_type::id:
    case field_type::text: return "text";
    case field_type::longtext: return "longtext";
    case field_type::decimal: return "decimal";
    case field_type::integer: return "integer";
    case field_type::boolean: return "boolean";
    case field_type::picklist: return "picklist";
    case field_type::date: return "date";
    case field_type::datetime: return "datetime";
    case field_type::timestamp: return "timestamp";
  }
  return "text";
}

void object_ref(std::string& out, std::string_view base_url, std::string_view name, std::string_view label) {
  out += "<object href=\"";
  append_xml_text(out, base_url);
  out += "/v1/describe/";
  append_xml_text(out, name);
  out += "\"><name>";
  append_xml_text(out, name);
  out += "</name><label>";
  append_xml_text(out, label);
  out += "</label></object>";
}

}  // namespace

std::string describe_list_xml(std::string_view base_url) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<objects>";
  for (const object_def* o : all_objects()) object_ref(out, base_url, o->name, o->label);
  out += "</objects>\n";
  return out;
}

std::optional<std::string> describe_object_xml(std::string_view object, std::string_view base_url) {
  const object_def* o = find_object(object);
  if (o == nullptr) return std::nullopt;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<object><name>";
  append_xml_text(out, o->name);
  out += "</name><label>";
  append_xml_text(out, o->label);
  out += "</label><fields>";
  for (const field_def& f : o->fields) {
    out += "<field><name>";
    append_xml_text(out, f.name);
    out += "</name><label>";
    append_xml_text(out, f.label);
    out += "</label><type>";
    out += type_name(f.type);
    // Every field is selectable; Id is the only required one. A soap-only
    // field lacks the export context; a refused one lists it all the same.
    out += fmt::format("</type><selectable>true</selectable><required>{}</required>", f.name == "Id");
    out += f.access == field_access::soap_only ? "<contexts><context>soap</context></contexts>"
                                               : "<contexts><context>export</context><context>soap</context></contexts>";
    if (!f.options.empty()) {
      out += "<options>";
      for (std::string_view opt : f.options) {
        out += "<option>";
        append_xml_text(out, opt);
        out += "</option>";
      }
      out += "</options>";
    }
    out += "</field>";
  }
  out += "</fields><related-objects>";
  for (const relation_def& r : o->relations) object_ref(out, base_url, r.name, r.label);
  out += "</related-objects></object>\n";
  return out;
}

}  // namespace aquaduct::emulator
