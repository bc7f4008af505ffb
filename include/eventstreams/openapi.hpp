// The OpenAPI 3 document served at /?spec, generated from the stream catalog.
#pragma once

#include <string>
#include <string_view>

#include "eventstreams/stream_catalog.hpp"

namespace eventstreams {

// JSON text of an OpenAPI 3.0 document: /v2/stream/{streams} with an enum of every name and
// alias, one path per stream (/v2/stream/NAME) with its description and schema title, and the
// other public routes.
std::string openapi_document(const stream_catalog& catalog, std::string_view version);

}  // namespace eventstreams
