// The OpenAPI document is generated from the catalog and parses as JSON.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "eventstreams/openapi.hpp"

namespace eventstreams {
namespace {

TEST(OpenApi, EnumeratesNamesAndAliasesAndHasAPathPerStream) {
  stream_catalog catalog({{"recentchange",
                           {"eqiad.rc", "codfw.rc"},
                           "Edits",
                           {"rc"},
                           "mediawiki/recentchange",
                           canary_policy::drop},
                          {"page-create", {"eqiad.pc"}, "Pages", {}, "", canary_policy::pass}});
  auto doc = nlohmann::json::parse(openapi_document(catalog, "1.2.3"));
  EXPECT_EQ(doc["openapi"], "3.0.3");
  EXPECT_EQ(doc["info"]["version"], "1.2.3");
  auto names = doc["components"]["parameters"]["streams"]["schema"]["items"]["enum"];
  EXPECT_EQ(names, nlohmann::json({"recentchange", "rc", "page-create"}));
  ASSERT_TRUE(doc["paths"].contains("/v2/stream/{streams}"));
  ASSERT_TRUE(doc["paths"].contains("/v2/stream/recentchange"));
  ASSERT_TRUE(doc["paths"].contains("/v2/stream/page-create"));
  EXPECT_EQ(doc["paths"]["/v2/stream/recentchange"]["get"]["description"], "Edits");
  EXPECT_EQ(doc["paths"]["/v2/stream/recentchange"]["x-schema-title"], "mediawiki/recentchange");
  EXPECT_NE(doc["paths"]["/v2/stream/recentchange"]["get"]["responses"]["200"]["description"]
                .get<std::string>()
                .find("mediawiki/recentchange"),
            std::string::npos);
  EXPECT_TRUE(doc["paths"]["/v2/stream/{streams}"]["get"]["responses"].contains("400"));
}

}  // namespace
}  // namespace eventstreams
