// The OpenAPI document is generated from the catalog and parses as JSON.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "eventstreams/filter.hpp"
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
  // Inline and sorted, where the original's UI reads it (a $ref there gave it a TypeError).
  auto names =
      doc["paths"]["/v2/stream/{streams}"]["get"]["parameters"][0]["schema"]["items"]["enum"];
  EXPECT_EQ(names, nlohmann::json({"page-create", "rc", "recentchange"}));
  EXPECT_EQ(doc["paths"]["/v2/stream/{streams}"]["get"]["parameters"][0]["in"], "path");
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

TEST(OpenApi, DocumentsTheFilterParameterWithExamplesThatCompile) {
  stream_catalog catalog({{"recentchange", {"eqiad.rc"}, "Edits", {}, "", canary_policy::drop}});
  auto doc = nlohmann::json::parse(openapi_document(catalog, "1.2.3"));
  for (const auto* path : {"/v2/stream/{streams}", "/v2/stream/recentchange"}) {
    const auto& params = doc["paths"][path]["get"]["parameters"];
    auto it = std::find_if(params.begin(), params.end(),
                           [](const auto& p) { return p["name"] == "filter"; });
    ASSERT_NE(it, params.end()) << path;
    EXPECT_EQ((*it)["in"], "query");
    EXPECT_EQ((*it)["schema"]["type"], "array");
    ASSERT_GE((*it)["examples"].size(), 3u);
    for (const auto& [name, example] : (*it)["examples"].items()) {
      const auto clauses = example["value"].get<std::vector<std::string>>();
      auto made = filter::compile(clauses, filter::limits{});
      EXPECT_FALSE(made.error) << name << ": " << (made.error ? made.error->detail : "");
    }
  }
}

TEST(OpenApi, TextThatIsNotUtf8NeverEndsTheProcess) {
  // The config loader refuses such text; the document still renders if one slips through.
  stream_catalog catalog(
      {{"broken", {"t"}, std::string("caf\xc3 \xff"), {}, "", canary_policy::drop}});
  auto text = openapi_document(catalog, "1");
  auto doc = nlohmann::json::parse(text);
  EXPECT_TRUE(doc["paths"].contains("/v2/stream/broken"));
}

}  // namespace
}  // namespace eventstreams
