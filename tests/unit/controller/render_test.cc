// render: the children of each sample LLMService, and the rules every child follows.
#include "operator/controller/render.h"

#include <set>

#include <gtest/gtest.h>

#include "operator/api/llmservice_json.h"
#include "operator/controller/names.h"
#include "tests/unit/api/testdata.h"

namespace mixserve::controller {
namespace {

using nlohmann::json;

const RenderOptions kOptions{.default_image = "registry.example/mixserve:1.2.3"};

// A sample as the API server would hand it to the controller: with a namespace and a uid.
api::LLMService Sample(const std::string& file) {
  json object = testdata::LoadYaml("crds/samples/" + file);
  object["metadata"]["namespace"] = "llm";
  object["metadata"]["uid"] = "uid-" + object["metadata"]["name"].get<std::string>();
  auto service = api::LLMServiceFromJson(object);
  EXPECT_TRUE(service.ok()) << service.status().message();
  return service.ok() ? *service : api::LLMService{};
}

std::vector<json> RenderOk(const api::LLMService& service) {
  auto children = Render(service, kOptions);
  EXPECT_TRUE(children.ok()) << children.status().message();
  return children.ok() ? *children : std::vector<json>{};
}

std::vector<std::string> KindsAndNames(const std::vector<json>& children) {
  std::vector<std::string> out;
  for (const json& c : children) out.push_back(c["kind"].get<std::string>() + "/" + c["metadata"]["name"].get<std::string>());
  return out;
}

const json& Find(const std::vector<json>& children, const std::string& kind, size_t nth = 0) {
  static const json kNone;
  for (const json& c : children) {
    if (c["kind"] == kind && nth-- == 0) return c;
  }
  ADD_FAILURE() << "no " << kind;
  return kNone;
}

const json& Container(const json& workload) { return workload["spec"]["template"]["spec"]["containers"][0]; }

std::vector<std::string> Args(const json& workload) { return Container(workload)["args"]; }

// The value of env var `name`, or null.
json Env(const json& workload, const std::string& name) {
  for (const json& e : Container(workload)["env"]) {
    if (e["name"] == name) return e.contains("value") ? e["value"] : e["valueFrom"];
  }
  return nullptr;
}

json Volume(const json& workload, const std::string& name) {
  for (const json& v : workload["spec"]["template"]["spec"]["volumes"]) {
    if (v["name"] == name) return v;
  }
  return nullptr;
}

json Mount(const json& workload, const std::string& name) {
  for (const json& m : Container(workload)["volumeMounts"]) {
    if (m["name"] == name) return m;
  }
  return nullptr;
}

// The value following `flag` in the args, or "" when the flag is absent.
std::string Flag(const json& workload, const std::string& flag) {
  std::vector<std::string> args = Args(workload);
  auto it = std::find(args.begin(), args.end(), flag);
  return it == args.end() || it + 1 == args.end() ? "" : *(it + 1);
}

TEST(RenderTest, Mistral7bOnOneA10) {
  auto children = RenderOk(Sample("mistral-7b-a10.yaml"));
  EXPECT_EQ(KindsAndNames(children), (std::vector<std::string>{"Service/mistral-7b", "Deployment/mistral-7b",
                                                               "PodDisruptionBudget/mistral-7b"}));
  const json& deployment = Find(children, "Deployment");
  EXPECT_EQ(deployment["spec"]["replicas"], 2);
  const json& pod = deployment["spec"]["template"]["spec"];
  EXPECT_EQ(pod["nodeSelector"], json({{"nvidia.com/gpu.product", "NVIDIA-A10"}}));
  EXPECT_EQ(pod["tolerations"][0], json({{"key", "nvidia.com/gpu"}, {"operator", "Exists"}, {"effect", "NoSchedule"}}));
  const json& resources = Container(deployment)["resources"];
  EXPECT_EQ(resources["limits"], json({{"nvidia.com/gpu", "1"}}));
  EXPECT_EQ(resources["requests"], json({{"nvidia.com/gpu", "1"}, {"cpu", "4"}, {"memory", "32Gi"}}));
  EXPECT_EQ(Container(deployment)["image"], "registry.example/mixserve:1.2.3");
  EXPECT_EQ(Container(deployment)["command"], json({"mixserve", "serve"}));
  EXPECT_EQ(Args(deployment),
            (std::vector<std::string>{"--model", "hf://mistralai/Mistral-7B-Instruct-v0.3", "--served-model-name",
                                      "mistral-7b", "--host", "0.0.0.0", "--port", "8000", "--tensor-parallel-size",
                                      "1", "--max-model-len", "16384", "--dtype", "bfloat16", "--drain-timeout",
                                      "100s"}));
  EXPECT_EQ(Volume(deployment, "models")["emptyDir"], json({{"sizeLimit", "40Gi"}}));
  EXPECT_EQ(Mount(deployment, "models")["mountPath"], "/models");
  EXPECT_EQ(Env(deployment, "HF_HUB_CACHE"), "/models/hub");
  EXPECT_TRUE(Env(deployment, "HF_TOKEN_PATH").is_null());
  EXPECT_TRUE(Volume(deployment, "api-key").is_null());
  // 20m of startup at one probe per 10s.
  EXPECT_EQ(Container(deployment)["startupProbe"]["failureThreshold"], 120);
  EXPECT_EQ(Container(deployment)["startupProbe"]["periodSeconds"], 10);
  EXPECT_EQ(deployment["spec"]["progressDeadlineSeconds"], 1200 + 600);
}

TEST(RenderTest, Mixtral8x7bOnTwoGpusWithIngressAndApiKey) {
  api::LLMService service = Sample("mixtral-8x7b-2xh100.yaml");
  auto children = RenderOk(service);
  EXPECT_EQ(KindsAndNames(children),
            (std::vector<std::string>{"Service/mixtral-8x7b", "Deployment/mixtral-8x7b",
                                      "PodDisruptionBudget/mixtral-8x7b", "Ingress/mixtral-8x7b"}));
  const json& deployment = Find(children, "Deployment");
  EXPECT_EQ(Container(deployment)["resources"]["limits"], json({{"nvidia.com/gpu", "2"}}));
  EXPECT_EQ(Flag(deployment, "--tensor-parallel-size"), "2");
  EXPECT_EQ(Flag(deployment, "--served-model-name"), "mixtral-8x7b,mistralai/Mixtral-8x7B-Instruct-v0.1");
  EXPECT_EQ(Flag(deployment, "--api-key-file"), "/var/run/secrets/mixserve/api-key/api-key");
  EXPECT_EQ(Volume(deployment, "api-key")["secret"],
            json({{"secretName", "mixtral-keys"}, {"items", {{{"key", "api-key"}, {"path", "api-key"}}}},
                  {"defaultMode", 0440}}));
  EXPECT_EQ(Env(deployment, "HF_TOKEN_PATH"), "/var/run/secrets/mixserve/hf-token/token");
  EXPECT_EQ(Volume(deployment, "hf-token")["secret"]["secretName"], "hf-token");
  EXPECT_EQ(Mount(deployment, "hf-token")["readOnly"], true);
  EXPECT_EQ(Volume(deployment, "models")["persistentVolumeClaim"], json({{"claimName", "models"}, {"readOnly", false}}));
  EXPECT_EQ(Volume(deployment, "dshm")["emptyDir"], json({{"medium", "Memory"}, {"sizeLimit", "16Gi"}}));
  EXPECT_EQ(Mount(deployment, "dshm")["mountPath"], "/dev/shm");

  const json& ingress = Find(children, "Ingress");
  EXPECT_EQ(ingress["spec"]["ingressClassName"], "nginx");
  EXPECT_EQ(ingress["spec"]["tls"], json::parse(R"([{"hosts": ["llm.example.com"], "secretName": "llm-example-com-tls"}])"));
  const json& rule = ingress["spec"]["rules"][0];
  EXPECT_EQ(rule["host"], "llm.example.com");
  EXPECT_EQ(rule["http"]["paths"][0],
            json::parse(R"({"path": "/v1", "pathType": "Prefix",
                            "backend": {"service": {"name": "mixtral-8x7b", "port": {"name": "http"}}}})"));
  const json& annotations = ingress["metadata"]["annotations"];
  EXPECT_EQ(annotations["nginx.ingress.kubernetes.io/proxy-buffering"], "off");
  EXPECT_EQ(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"], "3600");
  EXPECT_EQ(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"], "3600");
  EXPECT_EQ(annotations["nginx.ingress.kubernetes.io/proxy-body-size"], "64m");
  EXPECT_FALSE(annotations.contains("nginx.ingress.kubernetes.io/rewrite-target"));

  const json& svc = Find(children, "Service");
  EXPECT_EQ(svc["spec"]["ports"][0]["port"], 80);
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], "http");
  EXPECT_EQ(svc["spec"]["ports"][0]["name"], "http");
  EXPECT_EQ(Container(deployment)["ports"][0], json({{"name", "http"}, {"containerPort", 8000}, {"protocol", "TCP"}}));
  EXPECT_EQ(EndpointUrl(service), "https://llm.example.com/v1");
}

TEST(RenderTest, Mixtral8x7bTp8FromAReadOnlyCacheUnderAPathPrefix) {
  api::LLMService service = Sample("mixtral-8x7b-tp8-a100.yaml");
  auto children = RenderOk(service);
  const json& deployment = Find(children, "Deployment");
  EXPECT_EQ(Container(deployment)["resources"]["limits"], json({{"nvidia.com/gpu", "8"}}));
  EXPECT_EQ(Flag(deployment, "--tensor-parallel-size"), "8");
  EXPECT_EQ(Env(deployment, "HF_HUB_OFFLINE"), "1");
  EXPECT_EQ(Mount(deployment, "models")["readOnly"], true);
  EXPECT_EQ(deployment["spec"]["template"]["spec"]["nodeSelector"]["nvidia.com/gpu.product"], "NVIDIA-A100-SXM4-80GB");
  // startupTimeout defaulted to 30m.
  EXPECT_EQ(Container(deployment)["startupProbe"]["failureThreshold"], 180);

  const json& ingress = Find(children, "Ingress");
  const json& path = ingress["spec"]["rules"][0]["http"]["paths"][0];
  EXPECT_EQ(path["path"], "/tp8/v1(/|$)(.*)");
  EXPECT_EQ(path["pathType"], "ImplementationSpecific");
  EXPECT_EQ(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"], "/v1/$2");
  EXPECT_EQ(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/use-regex"], "true");
  EXPECT_FALSE(ingress["spec"].contains("tls"));
  EXPECT_EQ(EndpointUrl(service), "http://mixtral.llm.example.com/tp8/v1");
}

TEST(RenderTest, Mixtral8x22bOnTwoNodesIsAStatefulSetPerReplica) {
  api::LLMService service = Sample("mixtral-8x22b-multinode.yaml");
  auto children = RenderOk(service);
  EXPECT_EQ(KindsAndNames(children),
            (std::vector<std::string>{"Service/mixtral-8x22b-ranks", "Service/mixtral-8x22b",
                                      "StatefulSet/mixtral-8x22b-0", "PodDisruptionBudget/mixtral-8x22b",
                                      "Ingress/mixtral-8x22b"}));
  const json& headless = Find(children, "Service", 0);
  EXPECT_EQ(headless["spec"]["clusterIP"], "None");
  EXPECT_EQ(headless["spec"]["publishNotReadyAddresses"], true);
  EXPECT_EQ(headless["spec"]["selector"], SelectorLabels("mixtral-8x22b"));
  // Only rank 0 serves HTTP.
  const json& svc = Find(children, "Service", 1);
  EXPECT_EQ(svc["spec"]["selector"][kLabelPodIndex], "0");
  EXPECT_EQ(ServingPodSelector(service),
            "app.kubernetes.io/name=mixserve,apps.kubernetes.io/pod-index=0,mixserve.io/llmservice=mixtral-8x22b");

  const json& sts = Find(children, "StatefulSet");
  EXPECT_EQ(sts["spec"]["replicas"], 2);
  EXPECT_EQ(sts["spec"]["serviceName"], "mixtral-8x22b-ranks");
  EXPECT_EQ(sts["spec"]["podManagementPolicy"], "Parallel");
  EXPECT_EQ(sts["spec"]["selector"]["matchLabels"][kLabelReplica], "0");
  EXPECT_EQ(sts["spec"]["template"]["metadata"]["labels"][kLabelReplica], "0");
  EXPECT_EQ(Container(sts)["resources"]["limits"], json({{"nvidia.com/gpu", "8"}}));
  EXPECT_EQ(Flag(sts, "--tensor-parallel-size"), "16");
  EXPECT_EQ(Env(sts, "MIXSERVE_RANK"),
            json::parse(R"({"fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}})"));
  EXPECT_EQ(Env(sts, "MIXSERVE_WORLD_NODES"), "2");
  EXPECT_EQ(Env(sts, "MIXSERVE_LEADER_ADDR"), "mixtral-8x22b-0-0.mixtral-8x22b-ranks.llm.svc:29500");
  EXPECT_EQ(Env(sts, "NCCL_SOCKET_IFNAME"), "eth0");
  EXPECT_EQ(Container(sts)["ports"][1], json({{"name", "rendezvous"}, {"containerPort", 29500}, {"protocol", "TCP"}}));
  // The model's claim is the cache's claim: one volume, the model under /models.
  EXPECT_EQ(Flag(sts, "--model"), "/models/mistralai/Mixtral-8x22B-Instruct-v0.1");
  EXPECT_TRUE(Volume(sts, "model-source").is_null());
  EXPECT_EQ(sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
               ["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"],
            "kubernetes.io/hostname");
  EXPECT_EQ(Container(sts)["startupProbe"]["failureThreshold"], 360);
}

TEST(RenderTest, MultiNodeReplicasEachGetTheirOwnLeader) {
  api::LLMService service = Sample("mixtral-8x22b-multinode.yaml");
  service.spec.replicas = 3;
  auto children = RenderOk(service);
  for (int group = 0; group < 3; ++group) {
    const json& sts = Find(children, "StatefulSet", group);
    const std::string name = "mixtral-8x22b-" + std::to_string(group);
    EXPECT_EQ(sts["metadata"]["name"], name);
    EXPECT_EQ(sts["spec"]["selector"]["matchLabels"][kLabelReplica], std::to_string(group));
    EXPECT_EQ(Env(sts, "MIXSERVE_LEADER_ADDR"), name + "-0.mixtral-8x22b-ranks.llm.svc:29500");
  }
  service.spec.replicas = 0;
  children = RenderOk(service);
  EXPECT_EQ(KindsAndNames(children),
            (std::vector<std::string>{"Service/mixtral-8x22b-ranks", "Service/mixtral-8x22b",
                                      "PodDisruptionBudget/mixtral-8x22b", "Ingress/mixtral-8x22b"}));
}

TEST(RenderTest, EveryChildIsLabelledAndOwnedByTheLLMService) {
  for (const auto& path : testdata::SamplePaths()) {
    api::LLMService service = Sample(path.filename().string());
    const json owner = {{"apiVersion", "mixserve.io/v1alpha1"}, {"kind", "LLMService"},
                        {"name", service.metadata.name},         {"uid", service.metadata.uid},
                        {"controller", true},                    {"blockOwnerDeletion", true}};
    for (const json& child : RenderOk(service)) {
      SCOPED_TRACE(child["kind"].get<std::string>());
      EXPECT_EQ(child["metadata"]["namespace"], "llm");
      EXPECT_EQ(child["metadata"]["ownerReferences"], json::array({owner}));
      const json& labels = child["metadata"]["labels"];
      EXPECT_EQ(labels["app.kubernetes.io/name"], "mixserve");
      EXPECT_EQ(labels["app.kubernetes.io/instance"], service.metadata.name);
      EXPECT_EQ(labels["app.kubernetes.io/managed-by"], "mixserve-operator");
      EXPECT_EQ(labels["mixserve.io/llmservice"], service.metadata.name);
      if (child["kind"] == "Deployment" || child["kind"] == "StatefulSet") {
        const json& template_labels = child["spec"]["template"]["metadata"]["labels"];
        for (const auto& [key, value] : child["spec"]["selector"]["matchLabels"].items()) {
          EXPECT_EQ(template_labels[key], value) << "the selector must match the pods";
        }
      }
    }
  }
}

TEST(RenderTest, PodsRunAsNonRootAndDrainBeforeTheyAreKilled) {
  for (const auto& path : testdata::SamplePaths()) {
    auto children = RenderOk(Sample(path.filename().string()));
    const json& workload = children[1]["kind"] == "Service" ? children[2] : children[1];
    SCOPED_TRACE(path.filename().string());
    const json& pod = workload["spec"]["template"]["spec"];
    EXPECT_EQ(pod["securityContext"],
              json::parse(R"({"runAsNonRoot": true, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
                              "seccompProfile": {"type": "RuntimeDefault"}})"));
    EXPECT_EQ(Container(workload)["securityContext"],
              json::parse(R"({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})"));
    EXPECT_EQ(pod["terminationGracePeriodSeconds"], 120);
    EXPECT_EQ(Flag(workload, "--drain-timeout"), "100s");
    EXPECT_EQ(pod["automountServiceAccountToken"], false);
    EXPECT_EQ(Container(workload)["readinessProbe"]["httpGet"], json({{"path", "/health"}, {"port", "http"}}));
    EXPECT_EQ(Container(workload)["livenessProbe"]["httpGet"], json({{"path", "/live"}, {"port", "http"}}));
    EXPECT_EQ(Container(workload)["startupProbe"]["httpGet"], json({{"path", "/health"}, {"port", "http"}}));
    const json& pdb = Find(children, "PodDisruptionBudget");
    EXPECT_EQ(pdb["spec"]["maxUnavailable"], 1);
    EXPECT_EQ(pdb["spec"]["unhealthyPodEvictionPolicy"], "AlwaysAllow");
  }
}

TEST(RenderTest, OutputIsDeterministic) {
  for (const auto& path : testdata::SamplePaths()) {
    api::LLMService service = Sample(path.filename().string());
    auto first = RenderOk(service);
    // Through JSON and back, as after a resync from the informer cache.
    auto reread = api::LLMServiceFromJson(api::ToJson(service));
    ASSERT_TRUE(reread.ok());
    auto second = RenderOk(*reread);
    EXPECT_EQ(json(first).dump(), json(second).dump()) << path;
  }
}

TEST(RenderTest, UserAnnotationsOverrideStreamingDefaults) {
  api::LLMService service = Sample("mixtral-8x7b-2xh100.yaml");
  service.spec.ingress.annotations = {{"nginx.ingress.kubernetes.io/proxy-read-timeout", "7200"},
                                      {"cert-manager.io/cluster-issuer", "letsencrypt"}};
  const auto children = RenderOk(service);
  const json& annotations = Find(children, "Ingress")["metadata"]["annotations"];
  EXPECT_EQ(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"], "7200");
  EXPECT_EQ(annotations["cert-manager.io/cluster-issuer"], "letsencrypt");
  EXPECT_EQ(annotations["nginx.ingress.kubernetes.io/proxy-buffering"], "off");
}

TEST(RenderTest, ModelSources) {
  api::LLMService service = Sample("mistral-7b-a10.yaml");
  service.spec.model.uri = "pvc://weights/mistral/7b/";
  json deployment = Find(RenderOk(service), "Deployment");
  EXPECT_EQ(Flag(deployment, "--model"), "/model-source/mistral/7b");
  EXPECT_EQ(Volume(deployment, "model-source")["persistentVolumeClaim"],
            json({{"claimName", "weights"}, {"readOnly", true}}));
  EXPECT_EQ(Mount(deployment, "model-source")["mountPath"], "/model-source");

  service.spec.model.uri = "file:///opt/models/mistral-7b";
  service.spec.model.served_names.clear();
  deployment = Find(RenderOk(service), "Deployment");
  EXPECT_EQ(Flag(deployment, "--model"), "/opt/models/mistral-7b");
  EXPECT_EQ(Flag(deployment, "--served-model-name"), "mistral-7b");
  EXPECT_TRUE(Volume(deployment, "model-source").is_null());
}

TEST(RenderTest, SpecImageAndRuntimeOptions) {
  api::LLMService service = Sample("mixtral-8x7b-2xh100.yaml");
  service.spec.runtime.image = "mine/mixserve:dev";
  service.spec.runtime.image_pull_policy = "Always";
  service.spec.runtime.image_pull_secrets = {"regcred"};
  service.spec.runtime.expert_parallel = true;
  service.spec.runtime.args = {"--max-num-seqs=32"};
  service.spec.runtime.dtype = "float16";
  json deployment = Find(RenderOk(service), "Deployment");
  EXPECT_EQ(Container(deployment)["image"], "mine/mixserve:dev");
  EXPECT_EQ(Container(deployment)["imagePullPolicy"], "Always");
  EXPECT_EQ(deployment["spec"]["template"]["spec"]["imagePullSecrets"], json::parse(R"([{"name": "regcred"}])"));
  std::vector<std::string> args = Args(deployment);
  EXPECT_NE(std::find(args.begin(), args.end(), "--expert-parallel"), args.end());
  EXPECT_EQ(args.back(), "--max-num-seqs=32");
  EXPECT_EQ(Flag(deployment, "--dtype"), "float16");
}

TEST(RenderTest, LongAndUnusualNamesAreShortenedDeterministically) {
  api::LLMService service = Sample("mixtral-8x22b-multinode.yaml");
  service.metadata.name = std::string(90, 'a') + ".example.v1";
  auto children = RenderOk(service);
  std::set<std::string> names;
  for (const json& child : children) {
    const std::string name = child["metadata"]["name"];
    const size_t limit = child["kind"] == "StatefulSet" ? kMaxStatefulSetNameLength : kMaxNameLength;
    EXPECT_LE(name.size(), limit) << name;
    EXPECT_EQ(name.find('.'), std::string::npos) << name;
    EXPECT_LE(child["metadata"]["labels"]["mixserve.io/llmservice"].get<std::string>().size(), 63u);
    names.insert(child["kind"].get<std::string>() + "/" + name);
  }
  EXPECT_EQ(names.size(), children.size());
  EXPECT_EQ(json(children).dump(), json(RenderOk(service)).dump());

  // Two long names that share their first 63 characters still get distinct children.
  api::LLMService other = service;
  other.metadata.name = std::string(90, 'a') + ".example.v2";
  EXPECT_NE(Find(RenderOk(other), "Service", 1)["metadata"]["name"], Find(children, "Service", 1)["metadata"]["name"]);

  EXPECT_EQ(ChildName("mixtral"), "mixtral");
  EXPECT_EQ(ChildName("mixtral", "-ranks"), "mixtral-ranks");
  const std::string digit_first = ChildName("7b-chat");
  EXPECT_EQ(digit_first.rfind("m7b-chat-", 0), 0u) << digit_first;
  EXPECT_EQ(digit_first.size(), std::string("m7b-chat-").size() + 8);
  EXPECT_EQ(ChildName("mistral.v1").rfind("mistral-v1-", 0), 0u);
  EXPECT_EQ(LabelValue("mistral.v1"), "mistral.v1");
}

TEST(RenderTest, RefusesWhatItCannotRender) {
  api::LLMService service = Sample("mistral-7b-a10.yaml");
  api::LLMService no_uid = service;
  no_uid.metadata.uid.clear();
  EXPECT_EQ(Render(no_uid, kOptions).status().message(),
            "cannot render LLMService 'mistral-7b': metadata.name, metadata.namespace and metadata.uid must be set");

  api::LLMService invalid = service;
  invalid.spec.runtime.tensor_parallel = 3;
  EXPECT_EQ(Render(invalid, kOptions).status().message(),
            "spec.runtime.tensorParallel: runtime.tensorParallel must be a power of two from 1 to 64");

  EXPECT_EQ(Render(service, RenderOptions{}).status().message(),
            "no runtime image: set spec.runtime.image or the operator's --runtime-image");
}

TEST(RenderTest, InClusterUrlWithoutAnIngressHost) {
  api::LLMService service = Sample("mistral-7b-a10.yaml");
  EXPECT_EQ(EndpointUrl(service), "http://mistral-7b.llm.svc/v1");
  EXPECT_EQ(ServingPodSelector(service), "app.kubernetes.io/name=mixserve,mixserve.io/llmservice=mistral-7b");
  service.spec.ingress.enabled = true;
  EXPECT_EQ(EndpointUrl(service), "http://mistral-7b.llm.svc/v1");
}

}  // namespace
}  // namespace mixserve::controller
