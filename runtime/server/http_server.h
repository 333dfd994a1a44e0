// HttpServer: the OpenAI-compatible HTTP API on cpprestsdk's http_listener.
//
//   GET  /v1/models            the served names (aliases of one model)
//   POST /v1/completions       text completion, whole or streamed (SSE)
//   POST /v1/chat/completions  chat completion, whole or streamed (SSE)
//   GET  /health               200 when ready, 503 while loading or draining
//   GET  /live                 200 while the process runs (never touches the engine)
//   GET  /metrics              Prometheus text (see metrics.h)
//
// The listener opens before the model is loaded (so /health can say 503 meanwhile); SetModel makes
// the server ready. Handlers never block a listener thread: bodies are read with continuations,
// whole responses are sent from the engine's callback when the last choice finishes, and streams
// are fed through an SseStream. A stream whose write fails (the client went away) aborts its engine
// requests. BeginDrain() refuses new generations with 503 while running ones finish.
#pragma once

#include <cpprest/http_listener.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/engine/engine.h"
#include "runtime/server/auth.h"
#include "runtime/server/metrics.h"
#include "runtime/server/prepare.h"

namespace mixserve::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: pick a free port
  ApiKeys api_keys;
  size_t max_body_bytes = 32u << 20;
  // Set: requests without a seed get one from a generator seeded with this, so a server started
  // with the same seed and sent the same requests in the same order samples the same tokens.
  std::optional<uint64_t> seed;
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();

  // Starts listening; returns the port (the chosen one when options.port was 0).
  Result<int> Open();
  // REQUIRES: engine (started) and the model's tokenizer and template outlive the server, and the
  // engine stops before the server is destroyed (its callbacks report to the server).
  void SetModel(Engine* engine, ServedModel model, int64_t num_kv_blocks);
  // New generations get 503 and /health 503; running ones go on.
  void BeginDrain();
  // Generation requests whose response has not been fully sent.
  int64_t in_flight() const { return in_flight_->load(); }
  void Close();

 private:
  using http_request = web::http::http_request;

  void Handle(http_request req);
  void HandleGeneration(http_request req, bool chat, const std::string& body);
  void HandleModels(http_request req);
  void HandleMetrics(http_request req);
  // Sends a JSON body and logs the request.
  void ReplyJson(http_request req, int status, const std::string& body, const std::string& error = "");
  void ReplyError(http_request req, const ApiError& error);
  void Log(const http_request& req, int status, const std::string& error);

  ServerOptions options_;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  // Shared with reply continuations, which may run while the server is being torn down.
  std::shared_ptr<std::atomic<int64_t>> in_flight_ = std::make_shared<std::atomic<int64_t>>(0);
  Engine* engine_ = nullptr;
  ServedModel model_;
  int64_t num_kv_blocks_ = 0;
  int64_t created_ = 0;
  std::unique_ptr<ServerMetrics> metrics_;
  std::mutex seed_mu_;
  std::mt19937_64 seed_rng_;
};

}  // namespace mixserve::server
