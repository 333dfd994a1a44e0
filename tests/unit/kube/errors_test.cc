// API error mapping and resource paths: what callers branch on must match what the server says.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "operator/kube/errors.h"
#include "operator/kube/request_counters.h"
#include "operator/kube/resource.h"

namespace mixserve::kube {
namespace {

Response StatusBody(int code, const std::string& reason, const std::string& message) {
  nlohmann::json body = {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
                         {"code", code},     {"reason", reason},   {"message", message}};
  return Response{code, body.dump()};
}

TEST(ApiError, KindsAreDistinguished) {
  Status conflict = ApiError("PUT", "/x", StatusBody(409, "Conflict", "the object has been modified"));
  EXPECT_TRUE(IsConflict(conflict));
  EXPECT_FALSE(IsAlreadyExists(conflict));
  EXPECT_FALSE(IsNotFound(conflict));
  EXPECT_NE(conflict.message().find("the object has been modified"), std::string::npos) << conflict.message();
  EXPECT_EQ(HttpCodeOf(conflict), 409);

  Status exists = ApiError("POST", "/x", StatusBody(409, "AlreadyExists", "leases \"l\" already exists"));
  EXPECT_TRUE(IsAlreadyExists(exists));
  EXPECT_FALSE(IsConflict(exists));

  Status missing = ApiError("GET", "/x", StatusBody(404, "NotFound", "deployments.apps \"web\" not found"));
  EXPECT_TRUE(IsNotFound(missing));
  EXPECT_EQ(missing.code(), Status::Code::kNotFound);

  Status gone = ApiError("WATCH", "/x", StatusBody(410, "Expired", "too old resource version: 1 (42)"));
  EXPECT_TRUE(IsGone(gone));
  EXPECT_TRUE(IsGone(GoneError("too old")));
  EXPECT_FALSE(IsGone(conflict));

  Status invalid = ApiError("PATCH", "/x", StatusBody(422, "Invalid", "spec.runtime.tensorParallel: must be a power of two"));
  EXPECT_TRUE(IsInvalid(invalid));
  EXPECT_EQ(invalid.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(invalid.message().find("power of two"), std::string::npos);

  EXPECT_TRUE(IsForbidden(ApiError("GET", "/x", StatusBody(403, "Forbidden", "no"))));
  EXPECT_FALSE(IsConflict(Status::Unavailable("connection refused")));
  EXPECT_EQ(HttpCodeOf(Status::Unavailable("connection refused")), 0);
}

TEST(ApiError, PlainTextBodiesStillClassify) {
  Status s = ApiError("GET", "/x", Response{404, "404 page not found\n"});
  EXPECT_TRUE(IsNotFound(s));
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << "one-line messages";
}

TEST(Resource, PathsAndKinds) {
  EXPECT_EQ(CollectionPath(kDeploymentKind, "default"), "/apis/apps/v1/namespaces/default/deployments");
  EXPECT_EQ(CollectionPath(kDeploymentKind, ""), "/apis/apps/v1/deployments");
  EXPECT_EQ(ObjectPath(kPodKind, "ns", "p"), "/api/v1/namespaces/ns/pods/p");
  EXPECT_EQ(ObjectPath(kNodeKind, "ignored", "n1"), "/api/v1/nodes/n1");
  EXPECT_EQ(ObjectPath(kLLMServiceKind, "a", "m"), "/apis/mixserve.io/v1alpha1/namespaces/a/llmservices/m");
  auto ing = KindOf("networking.k8s.io/v1", "Ingress");
  ASSERT_TRUE(ing.ok());
  EXPECT_EQ(ing->resource, "ingresses");
  auto pdb = KindOfObject(nlohmann::json{{"apiVersion", "policy/v1"}, {"kind", "PodDisruptionBudget"}});
  ASSERT_TRUE(pdb.ok());
  EXPECT_EQ(pdb->resource, "poddisruptionbudgets");
  auto unknown = KindOf("example.com/v1", "Widget");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("Widget"), std::string::npos);
  EXPECT_EQ(QueryEscape("app=web,tier!=db"), "app%3Dweb%2Ctier%21%3Ddb");
  EXPECT_EQ(ObjectKey(nlohmann::json{{"metadata", {{"namespace", "ns"}, {"name", "n"}}}}), "ns/n");
  EXPECT_EQ(ObjectKey("", "node"), "node");
}

TEST(RequestCounters, CountsByVerbCodeAndWrites) {
  RequestCounters c;
  c.Record("GET", 200);
  c.Record("GET", 200);
  c.Record("GET", 404);
  c.Record("PATCH", 200);
  c.Record("DELETE", 200);
  c.Record("PUT", 409);
  c.Record("WATCH", 200);
  EXPECT_EQ(c.total(), 7);
  EXPECT_EQ(c.writes(), 3);
  EXPECT_EQ(c.Count("GET"), 3);
  EXPECT_EQ((c.Snapshot()[{"GET", 200}]), 2);
  EXPECT_NE(c.PrometheusLines("api_requests_total").find("api_requests_total{verb=\"PUT\",code=\"409\"} 1"),
            std::string::npos);
}

}  // namespace
}  // namespace mixserve::kube
