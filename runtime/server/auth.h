// ApiKeys: bearer-token authentication for the API routes.
//
// Keys come from a file, one per line (surrounding whitespace and blank lines ignored). A request
// is allowed when its "Authorization: Bearer <key>" matches one of them. The comparison is
// constant-time: both sides are hashed with SHA-256 and the digests compared with CRYPTO_memcmp,
// so neither a key's content nor its length leaks through timing. Keys are never logged.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "runtime/base/status.h"

namespace mixserve::server {

class ApiKeys {
 public:
  // No keys: every request is allowed.
  ApiKeys() = default;
  static Result<ApiKeys> LoadFile(const std::string& path);
  static ApiKeys FromKeys(const std::vector<std::string>& keys);

  bool enabled() const { return !digests_.empty(); }
  // `authorization`: the Authorization header's value ("" when absent).
  bool Allows(const std::string& authorization) const;

 private:
  std::vector<std::array<unsigned char, 32>> digests_;
};

}  // namespace mixserve::server
