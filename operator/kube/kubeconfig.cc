#include "operator/kube/kubeconfig.h"

#include "operator/kube/exec_credential.h"

#include <yaml-cpp/yaml.h>

#include <cpprest/asyncrt_utils.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace mixserve::kube {
namespace {

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// yaml-cpp's default Node is a defined null, so "absent" means undefined or null.
bool Present(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }

// Finds the entry named `name` in a kubeconfig list such as `clusters` and returns its `key` map.
YAML::Node FindNamed(const YAML::Node& list, const std::string& name, const char* key) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name) return item[key];
  }
  return YAML::Node();
}

// A field given either inline as `<field>-data` (base64) or as a file path `<field>`.
Result<std::string> DataOrFile(const YAML::Node& node, const std::string& field, const std::filesystem::path& base) {
  if (auto data = node[field + "-data"]) {
    try {
      auto bytes = utility::conversions::from_base64(data.as<std::string>());
      return std::string(bytes.begin(), bytes.end());
    } catch (const std::exception&) {
      return Status::InvalidArgument(field + "-data is not valid base64");
    }
  }
  if (auto file = node[field]) {
    std::filesystem::path p = file.as<std::string>();
    if (p.is_relative()) p = base / p;
    return ReadFile(p);
  }
  return std::string();
}

// users[].user.exec: runs the plugin once now (so a broken plugin fails here, with its message),
// takes a client certificate from it if it gives one, and asks it for the token per request.
Status UseExecPlugin(const YAML::Node& exec, const std::filesystem::path& base, ClusterAccess* access) {
  ExecConfig config;
  if (exec["apiVersion"]) config.api_version = exec["apiVersion"].as<std::string>();
  if (!exec["command"]) return Status::InvalidArgument("user.exec has no command");
  config.command = exec["command"].as<std::string>();
  // As kubectl does: a relative path with a '/' is relative to the kubeconfig, a bare name uses $PATH.
  if (config.command.find('/') != std::string::npos && std::filesystem::path(config.command).is_relative()) {
    config.command = (base / config.command).string();
  }
  if (exec["args"] && exec["args"].IsSequence()) {
    for (const auto& arg : exec["args"]) config.args.push_back(arg.as<std::string>());
  }
  if (exec["env"] && exec["env"].IsSequence()) {
    for (const auto& e : exec["env"]) {
      if (!e["name"]) return Status::InvalidArgument("user.exec.env entry has no name");
      config.env.emplace_back(e["name"].as<std::string>(), e["value"] ? e["value"].as<std::string>() : "");
    }
  }
  auto plugin = std::make_shared<ExecCredentialPlugin>(std::move(config));
  auto first = plugin->Get();
  if (!first.ok()) return first.status();
  if (!first->client_certificate_pem.empty()) {
    access->client_cert_pem = first->client_certificate_pem;
    access->client_key_pem = first->client_key_pem;
  }
  if (!first->token.empty()) {
    access->token_provider = [plugin]() -> Result<std::string> {
      auto cred = plugin->Get();
      if (!cred.ok()) return cred.status();
      return cred->token;
    };
  }
  return Status::Ok();
}

}  // namespace

Result<ClusterAccess> LoadKubeconfig(const std::string& path, const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("kubeconfig " + path + ": " + e.what());
  }
  const auto base = std::filesystem::absolute(path).parent_path();
  std::string ctx_name = context;
  if (ctx_name.empty() && root["current-context"]) ctx_name = root["current-context"].as<std::string>();
  if (ctx_name.empty()) return Status::InvalidArgument("kubeconfig " + path + ": no current-context");
  YAML::Node ctx = FindNamed(root["contexts"], ctx_name, "context");
  if (!Present(ctx)) return Status::NotFound("kubeconfig " + path + ": context '" + ctx_name + "' not found");

  const std::string cluster_name = ctx["cluster"] ? ctx["cluster"].as<std::string>() : "";
  YAML::Node cluster = FindNamed(root["clusters"], cluster_name, "cluster");
  if (!Present(cluster) || !cluster["server"]) {
    return Status::NotFound("kubeconfig " + path + ": cluster '" + cluster_name + "' has no server");
  }
  ClusterAccess access;
  access.server = cluster["server"].as<std::string>();
  if (ctx["namespace"]) access.ns = ctx["namespace"].as<std::string>();
  access.insecure_skip_tls_verify = cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();
  auto ca = DataOrFile(cluster, "certificate-authority", base);
  if (!ca.ok()) return ca.status().WithContext("kubeconfig " + path);
  access.ca_pem = *ca;

  if (ctx["user"]) {
    YAML::Node user = FindNamed(root["users"], ctx["user"].as<std::string>(), "user");
    if (Present(user)) {
      auto cert = DataOrFile(user, "client-certificate", base);
      auto key = DataOrFile(user, "client-key", base);
      if (!cert.ok()) return cert.status().WithContext("kubeconfig " + path);
      if (!key.ok()) return key.status().WithContext("kubeconfig " + path);
      access.client_cert_pem = *cert;
      access.client_key_pem = *key;
      if (user["token"]) access.bearer_token = user["token"].as<std::string>();
      if (user["tokenFile"]) {
        auto token = ReadFile(user["tokenFile"].as<std::string>());
        if (!token.ok()) return token.status().WithContext("kubeconfig " + path);
        access.bearer_token = *token;
      }
      if (Present(user["exec"])) {
        Status exec = UseExecPlugin(user["exec"], base, &access);
        if (!exec.ok()) return exec.WithContext("kubeconfig " + path);
      }
    }
  }
  return access;
}

}  // namespace mixserve::kube
