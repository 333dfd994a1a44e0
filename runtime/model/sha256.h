// SHA-256 digests (OpenSSL EVP), used to check downloaded LFS files against the Hub's sha256.
//
// Sha256 hashes bytes fed in any number of pieces; Sha256OfFile streams a file through it without
// holding the file in memory. Digests are lowercase hex, the form the Hub uses in ETags.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "runtime/base/status.h"

namespace mixserve::model {

// An incremental SHA-256. REQUIRES: no Update() after HexDigest().
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t size);
  void Update(std::string_view bytes) { Update(bytes.data(), bytes.size()); }
  // The digest of everything fed so far, as 64 lowercase hex characters.
  std::string HexDigest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// The SHA-256 of a whole file, read in chunks.
Result<std::string> Sha256OfFile(const std::string& path);

// True for 64 lowercase-or-uppercase hex characters, the shape of a sha256 ETag.
bool LooksLikeSha256(std::string_view text);

}  // namespace mixserve::model
