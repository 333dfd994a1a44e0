// Model URIs of spec.model.uri: what they name, and the CRD's rules for them.
//
//   hf://<org>/<name>[@<revision>]   a Hugging Face Hub repository (the runtime downloads it)
//   pvc://<claim>/<path>             a folder on a PersistentVolumeClaim (the operator mounts it)
//   file:///<path>                   a folder already in the container image
#pragma once

#include <string>

#include "runtime/base/status.h"

namespace mixserve::api {

struct ModelUri {
  enum class Scheme { kHf, kPvc, kFile };
  Scheme scheme = Scheme::kHf;
  std::string repo;      // kHf: "<org>/<name>"
  std::string revision;  // kHf: after '@'; empty: the default branch
  std::string claim;     // kPvc: the PersistentVolumeClaim's name
  std::string path;      // kPvc: the folder inside the claim, no leading or trailing '/';
                         // kFile: the absolute folder, no trailing '/'
};

// Parses `uri`; a malformed one is InvalidArgument with the message of the CRD rule it breaks.
Result<ModelUri> ParseModelUri(const std::string& uri);

}  // namespace mixserve::api
