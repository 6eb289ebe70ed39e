#pragma once
// JSON for request bodies and run reports: text/json_text.hpp's quoting.
#include "text/json_text.hpp"

namespace aquaduct::engine_detail {

using text::json_quote;

}  // namespace aquaduct::engine_detail
