// ExecCredentialPlugin: credentials from a kubeconfig `users[].user.exec` plugin (e.g. cloud CLIs).
//
// Runs the configured command with its args and env (plus KUBERNETES_EXEC_INFO), reads an
// ExecCredential (client.authentication.k8s.io/v1 or v1beta1) from its stdout and takes
// status.token and/or status.clientCertificateData / clientKeyData. The result is cached until
// status.expirationTimestamp (forever when absent), then the command runs again. Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/base/status.h"

namespace mixserve::kube {

struct ExecConfig {
  std::string api_version;  // client.authentication.k8s.io/v1
  std::string command;      // relative commands with a '/' resolve against the kubeconfig's directory
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
};

struct ExecCredential {
  std::string token;
  std::string client_certificate_pem;
  std::string client_key_pem;
  std::optional<std::chrono::system_clock::time_point> expiration;
};

// Parses an ExecCredential JSON document (the plugin's stdout).
Result<ExecCredential> ParseExecCredential(const std::string& json_text);
// Parses an RFC 3339 timestamp ("2026-01-02T03:04:05Z", fractional seconds and offsets allowed).
Result<std::chrono::system_clock::time_point> ParseRfc3339(const std::string& text);
// Formats a time as RFC 3339 UTC with second precision ("2026-01-02T03:04:05Z").
std::string FormatRfc3339(std::chrono::system_clock::time_point t);
// The same with microseconds ("2026-01-02T03:04:05.123456Z"), as MicroTime fields need.
std::string FormatRfc3339Micro(std::chrono::system_clock::time_point t);

class ExecCredentialPlugin {
 public:
  explicit ExecCredentialPlugin(ExecConfig config);

  // The cached credential, or a fresh one from running the plugin when none is cached or it
  // expired (or expires within 10 s).
  Result<ExecCredential> Get();
  // Number of times the command ran (for tests).
  int runs() const;

 private:
  Result<ExecCredential> Run() const;

  const ExecConfig config_;
  mutable std::mutex mu_;
  std::optional<ExecCredential> cached_;
  int runs_ = 0;
};

}  // namespace mixserve::kube
