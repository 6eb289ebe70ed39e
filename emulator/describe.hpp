#pragma once
// Describe XML (contract §5.6, §1.9): the object list and one object with
// <fields> (each with name, label, type, selectable, required and
// <contexts><context>export</context>...) and <related-objects> (always
// present, possibly empty).
#include <optional>
#include <string>
#include <string_view>

namespace aquaduct::emulator {

// base_url: scheme://host[:port] used in href attributes ("https://rest.zuora.com").
std::string describe_list_xml(std::string_view base_url);
// nullopt when `object` is unknown (case-insensitive name).
std::optional<std::string> describe_object_xml(std::string_view object, std::string_view base_url);

}  // namespace aquaduct::emulator
