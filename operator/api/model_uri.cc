#include "operator/api/model_uri.h"

#include <regex>

namespace mixserve::api {
namespace {

// The same patterns as the CRD's rules on spec.model.uri.
const std::regex& HfPattern() {
  static const std::regex re("^hf://([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(@([A-Za-z0-9._/-]+))?$");
  return re;
}
const std::regex& PvcPattern() {
  static const std::regex re(
      "^pvc://([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)((/[A-Za-z0-9._-]+)+)/?$");
  return re;
}
const std::regex& FilePattern() {
  static const std::regex re("^file://(/[^\\s]*[^/\\s])/?$");
  return re;
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

Result<ModelUri> ParseModelUri(const std::string& uri) {
  ModelUri out;
  std::smatch m;
  if (StartsWith(uri, "hf://")) {
    if (!std::regex_match(uri, m, HfPattern())) {
      return Status::InvalidArgument(
          "an hf:// model.uri must look like hf://<org>/<name> or hf://<org>/<name>@<revision>");
    }
    out.scheme = ModelUri::Scheme::kHf;
    out.repo = m[1];
    out.revision = m[3];
  } else if (StartsWith(uri, "pvc://")) {
    if (!std::regex_match(uri, m, PvcPattern())) {
      return Status::InvalidArgument(
          "a pvc:// model.uri must look like pvc://<claim>/<path>, naming a PersistentVolumeClaim and a folder on it");
    }
    out.scheme = ModelUri::Scheme::kPvc;
    out.claim = m[1];
    out.path = std::string(m[5]).substr(1);
  } else if (StartsWith(uri, "file://")) {
    if (!std::regex_match(uri, m, FilePattern())) {
      return Status::InvalidArgument("a file:// model.uri must name an absolute folder, as in file:///models/mistral-7b");
    }
    out.scheme = ModelUri::Scheme::kFile;
    out.path = m[1];
  } else {
    return Status::InvalidArgument("model.uri must start with hf://, pvc:// or file://");
  }
  return out;
}

}  // namespace mixserve::api
