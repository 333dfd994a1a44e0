#include "runtime/server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

namespace mixserve::server {
namespace {

std::array<unsigned char, 32> Digest(const std::string& s) {
  std::array<unsigned char, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

}  // namespace

Result<ApiKeys> ApiKeys::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Io("cannot read the API key file " + path);
  std::vector<std::string> keys;
  std::string line;
  while (std::getline(in, line)) {
    std::string key = Trim(line);
    if (!key.empty()) keys.push_back(key);
  }
  if (keys.empty()) return Status::InvalidArgument("the API key file " + path + " holds no key");
  return FromKeys(keys);
}

ApiKeys ApiKeys::FromKeys(const std::vector<std::string>& keys) {
  ApiKeys out;
  for (const std::string& k : keys) out.digests_.push_back(Digest(k));
  return out;
}

bool ApiKeys::Allows(const std::string& authorization) const {
  if (digests_.empty()) return true;
  const std::string prefix = "Bearer ";
  std::string presented = authorization.size() > prefix.size() && authorization.compare(0, prefix.size(), prefix) == 0
                              ? Trim(authorization.substr(prefix.size()))
                              : std::string();
  auto digest = Digest(presented);
  bool ok = false;
  for (const auto& d : digests_) ok |= CRYPTO_memcmp(d.data(), digest.data(), d.size()) == 0;  // no early exit
  return ok && !presented.empty();
}

}  // namespace mixserve::server
