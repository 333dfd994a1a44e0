#include "runtime/server/sse.h"

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "runtime/server/api_error.h"

namespace mixserve::server {
namespace {

using Buffer = concurrency::streams::producer_consumer_buffer<uint8_t>;

// The one thread that performs stream writes and closes, in posting order. Lives until exit, when
// it finishes what was posted.
class SsePump {
 public:
  static SsePump* Get() {
    static SsePump* pump = [] {
      const char* env = std::getenv("MIXSERVE_SSE_PUMP");
      return env != nullptr && std::string(env) == "0" ? nullptr : new SsePump();
    }();
    return pump;
  }

  void Post(std::function<void()> work) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(work));
    }
    cv_.notify_one();
  }

 private:
  SsePump() : thread_([this] { Loop(); }) { thread_.detach(); }

  void Loop() {
    std::deque<std::function<void()>> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        batch.swap(queue_);
      }
      for (auto& work : batch) work();
      batch.clear();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::thread thread_;
};

void WriteNow(Buffer buffer, const std::string& bytes) {
  if (!buffer.can_write()) return;
  buffer.putn_nocopy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()).wait();
  buffer.sync().wait();
}

void CloseNow(Buffer buffer) {
  if (buffer.can_write()) buffer.close(std::ios_base::out).wait();
}

}  // namespace

std::string SseEvent(const nlohmann::json& data) { return "data: " + DumpJson(data) + "\n\n"; }

std::string SseDone() { return "data: [DONE]\n\n"; }

SseStream::SseStream() = default;

void SseStream::Write(const std::string& bytes) {
  // The buffer is a shared handle: the posted copy keeps it alive after this SseStream is gone.
  if (SsePump* pump = SsePump::Get()) {
    pump->Post([buffer = buffer_, bytes] { WriteNow(buffer, bytes); });
  } else {
    WriteNow(buffer_, bytes);
  }
}

void SseStream::Close() {
  if (SsePump* pump = SsePump::Get()) {
    pump->Post([buffer = buffer_] { CloseNow(buffer); });
  } else {
    CloseNow(buffer_);
  }
}

}  // namespace mixserve::server
