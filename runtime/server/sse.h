// Server-Sent Events as the OpenAI API streams them: every event is "data: <json>\n\n" and the
// stream ends with "data: [DONE]\n\n".
//
// SseStream is the HTTP side: a cpprestsdk producer/consumer buffer whose read end is the
// response body. Write() appends an event and syncs the buffer, so the listener's pending read
// completes and the bytes go out as one chunk at once instead of waiting for 64 KiB.
//
// Writes come from the engine thread, between two forward steps: waking the listener's threads
// there costs tens of microseconds per stream, a millisecond per step at batch 64. So Write() and
// Close() hand the work to one background thread shared by all streams, which performs it in the
// order it was posted (a stream's events stay in order, its close comes after them).
// MIXSERVE_SSE_PUMP=0 writes on the caller's thread instead.
#pragma once

#include <cpprest/producerconsumerstream.h>
#include <cpprest/streams.h>

#include <nlohmann/json.hpp>
#include <string>

namespace mixserve::server {

std::string SseEvent(const nlohmann::json& data);
std::string SseDone();

class SseStream {
 public:
  SseStream();
  // The response body to hand to http_response::set_body.
  concurrency::streams::istream body() const { return buffer_.create_istream(); }
  // Thread-safe and non-blocking; after Close() writes are dropped.
  void Write(const std::string& bytes);
  void Close();

 private:
  concurrency::streams::producer_consumer_buffer<uint8_t> buffer_;
};

}  // namespace mixserve::server
