#include "runtime/server/sse.h"

#include "runtime/server/api_error.h"

namespace mixserve::server {

std::string SseEvent(const nlohmann::json& data) { return "data: " + DumpJson(data) + "\n\n"; }

std::string SseDone() { return "data: [DONE]\n\n"; }

SseStream::SseStream() = default;

void SseStream::Write(const std::string& bytes) {
  if (!buffer_.can_write()) return;
  buffer_.putn_nocopy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()).wait();
  buffer_.sync().wait();
}

void SseStream::Close() {
  if (buffer_.can_write()) buffer_.close(std::ios_base::out).wait();
}

}  // namespace mixserve::server
