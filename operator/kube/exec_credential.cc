#include "operator/kube/exec_credential.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

extern char** environ;

namespace mixserve::kube {
namespace {

using nlohmann::json;

constexpr std::chrono::seconds kRefreshMargin{10};

}  // namespace

Result<std::chrono::system_clock::time_point> ParseRfc3339(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return Status::InvalidArgument("bad RFC 3339 time '" + text + "'");
  std::string rest;
  std::getline(in, rest);
  size_t i = 0;
  int64_t micros = 0;
  if (i < rest.size() && rest[i] == '.') {
    ++i;
    int64_t scale = 100000;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) {
      micros += (rest[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
  }
  int64_t offset_seconds = 0;
  if (i < rest.size() && (rest[i] == 'Z' || rest[i] == 'z')) {
    ++i;
  } else if (i + 6 == rest.size() && (rest[i] == '+' || rest[i] == '-') && rest[i + 3] == ':') {
    const int sign = rest[i] == '-' ? -1 : 1;
    offset_seconds = sign * (std::stoi(rest.substr(i + 1, 2)) * 3600 + std::stoi(rest.substr(i + 4, 2)) * 60);
    i += 6;
  } else {
    return Status::InvalidArgument("bad RFC 3339 time '" + text + "' (no zone)");
  }
  if (i != rest.size()) return Status::InvalidArgument("bad RFC 3339 time '" + text + "'");
  // system_clock counts nanoseconds in 64 bits (until 2262): clamp far-future times.
  if (tm.tm_year + 1900 > 2200) tm.tm_year = 2200 - 1900;
  const time_t utc = timegm(&tm) - offset_seconds;
  return std::chrono::system_clock::from_time_t(utc) + std::chrono::microseconds(micros);
}

std::string FormatRfc3339(std::chrono::system_clock::time_point t) {
  const time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string FormatRfc3339Micro(std::chrono::system_clock::time_point t) {
  const auto since = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch());
  const time_t secs = static_cast<time_t>(since.count() / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char date[32], buf[48];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf, sizeof(buf), "%s.%06lldZ", date, static_cast<long long>(since.count() % 1000000));
  return buf;
}

Result<ExecCredential> ParseExecCredential(const std::string& json_text) {
  auto doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Status::InvalidArgument("exec plugin output is not JSON");
  if (doc.value("kind", "") != "ExecCredential") {
    return Status::InvalidArgument("exec plugin output is not an ExecCredential (kind '" + doc.value("kind", "") + "')");
  }
  if (!doc.contains("status") || !doc["status"].is_object()) {
    return Status::InvalidArgument("exec plugin output has no status");
  }
  const json& status = doc["status"];
  ExecCredential cred;
  cred.token = status.value("token", "");
  cred.client_certificate_pem = status.value("clientCertificateData", "");
  cred.client_key_pem = status.value("clientKeyData", "");
  if (cred.token.empty() && cred.client_certificate_pem.empty()) {
    return Status::InvalidArgument("exec plugin output has neither status.token nor status.clientCertificateData");
  }
  if (cred.client_certificate_pem.empty() != cred.client_key_pem.empty()) {
    return Status::InvalidArgument("exec plugin output has only one of clientCertificateData and clientKeyData");
  }
  const std::string expiry = status.value("expirationTimestamp", "");
  if (!expiry.empty()) {
    auto t = ParseRfc3339(expiry);
    if (!t.ok()) return t.status().WithContext("exec plugin expirationTimestamp");
    cred.expiration = *t;
  }
  return cred;
}

ExecCredentialPlugin::ExecCredentialPlugin(ExecConfig config) : config_(std::move(config)) {}

int ExecCredentialPlugin::runs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_;
}

Result<ExecCredential> ExecCredentialPlugin::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cached_ && (!cached_->expiration || std::chrono::system_clock::now() + kRefreshMargin < *cached_->expiration)) {
    return *cached_;
  }
  ++runs_;
  auto fresh = Run();
  if (!fresh.ok()) return fresh.status();
  cached_ = *fresh;
  return *fresh;
}

Result<ExecCredential> ExecCredentialPlugin::Run() const {
  const std::string what = "exec credential plugin '" + config_.command + "'";
  // The environment: ours, the plugin's env entries, and KUBERNETES_EXEC_INFO.
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [name, value] : config_.env) env[name] = value;
  const json info = {{"apiVersion", config_.api_version.empty() ? "client.authentication.k8s.io/v1" : config_.api_version},
                     {"kind", "ExecCredential"},
                     {"spec", {{"interactive", false}}}};
  env["KUBERNETES_EXEC_INFO"] = info.dump();
  std::vector<std::string> env_strings;
  for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_strings = {config_.command};
  arg_strings.insert(arg_strings.end(), config_.args.begin(), config_.args.end());
  std::vector<char*> argv;
  for (auto& s : arg_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Status::Io(what + ": pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, config_.command.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return Status::NotFound(what + ": cannot run it: " + std::strerror(rc));
  }
  std::string output;
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) output.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return Status::Unavailable(what + " failed (exit status " +
                               std::to_string(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1) + ")");
  }
  auto cred = ParseExecCredential(output);
  if (!cred.ok()) return cred.status().WithContext(what);
  return cred;
}

}  // namespace mixserve::kube
