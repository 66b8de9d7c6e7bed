#include "cluster/gateway/rest_api.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

namespace muster::gateway {
namespace {

TEST(RestApi, EachErrorKindHasItsHttpStatusAndAName) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInfeasible), 422);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
  EXPECT_EQ(ErrorCodeName(StatusCode::kNotFound), "not_found");
  EXPECT_EQ(ErrorCodeName(StatusCode::kUnschedulable), "unschedulable");
  EXPECT_EQ(ErrorCodeName(StatusCode::kInternal), "internal");
  // Every name is one the document's Error schema allows.
  const nlohmann::json doc = nlohmann::json::parse(OpenApiDocument());
  const auto& allowed = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
                           ["code"]["enum"];
  for (int c = 1; c <= static_cast<int>(kLastStatusCode); ++c)
    EXPECT_NE(std::find(allowed.begin(), allowed.end(), ErrorCodeName(static_cast<StatusCode>(c))),
              allowed.end())
        << ErrorCodeName(static_cast<StatusCode>(c));
}

TEST(RestApi, TheDocumentNamesEveryRouteAndEveryReferenceResolves) {
  const nlohmann::json doc = nlohmann::json::parse(OpenApiDocument());
  EXPECT_EQ(doc["openapi"], "3.1.0");
  for (const char* path : {"/api/v1/jobs", "/api/v1/jobs/{id}", "/api/v1/jobs/{id}/logs",
                           "/api/v1/nodes", "/api/v1/balance", "/api/v1/schedule", "/api/v1/acct",
                           "/api/v1/openapi.json"})
    EXPECT_TRUE(doc["paths"].contains(path)) << path;
  // Each "$ref" names something the document has.
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& j) {
    if (j.is_object()) {
      if (auto it = j.find("$ref"); it != j.end()) {
        const std::string ref = *it;
        ASSERT_EQ(ref.rfind("#/", 0), 0u) << ref;
        EXPECT_TRUE(doc.contains(nlohmann::json::json_pointer(ref.substr(1)))) << ref;
      }
      for (const auto& [k, v] : j.items()) walk(v);
    } else if (j.is_array()) {
      for (const auto& v : j) walk(v);
    }
  };
  walk(doc);
}

TEST(RestApi, RequestsWithoutABearerTokenOrWithOneInTheUrlAreRefusedBeforeAnyCall) {
  // A client to an address nothing listens on: a refusal must come before any call is tried.
  client::ClientOptions o;
  o.address = "127.0.0.1:1";
  o.transport.insecure = true;
  httplib::Server server;
  AddRestRoutes(server, std::make_shared<client::CoordinatorClient>(o));
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&] { server.listen_after_bind(); });
  httplib::Client http("127.0.0.1", port);
  auto none = http.Get("/api/v1/nodes");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(nlohmann::json::parse(none->body)["error"]["code"], "unauthenticated");
  auto in_url = http.Get("/api/v1/nodes?token=abc");
  ASSERT_TRUE(in_url);
  EXPECT_EQ(in_url->status, 400);
  auto basic = http.Get("/api/v1/nodes", {{"Authorization", "Basic eDp5"}});
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 401);
  // With a token the call is made, and a coordinator that cannot be reached is a 503.
  auto unreachable = http.Get("/api/v1/nodes", {{"Authorization", "Bearer t"}});
  ASSERT_TRUE(unreachable);
  EXPECT_EQ(unreachable->status, 503);
  auto doc = http.Get("/api/v1/openapi.json");
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->status, 200);
  auto nowhere = http.Post("/api/v1/nodes", "{}", "application/json");
  ASSERT_TRUE(nowhere);
  EXPECT_EQ(nlohmann::json::parse(nowhere->body)["error"]["code"], "not_found");
  server.stop();
  t.join();
}

}  // namespace
}  // namespace muster::gateway
