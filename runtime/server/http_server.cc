#include "runtime/server/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "runtime/server/access_log.h"
#include "runtime/server/generation.h"
#include "runtime/server/openai_request.h"
#include "runtime/server/sse.h"

namespace mixserve::server {
namespace {

using web::http::http_response;
using web::http::methods;

// A port nobody listens on right now, from the kernel (bind to port 0, read it back, release it).
Result<int> PickFreePort(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status::Io("cannot create a socket to pick a port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) addr.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return Status::Io("cannot pick a free port on " + host);
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string RandomHex() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Sends a whole response. A client that left before its answer needs nothing undone.
void Send(web::http::http_request req, const http_response& resp) {
  req.reply(resp).then([](pplx::task<void> t) {
    try {
      t.get();
    } catch (const std::exception&) {
    }
  });
}

std::string Header(const web::http::http_request& req, const char* name) {
  auto it = req.headers().find(name);
  return it == req.headers().end() ? std::string() : it->second;
}

}  // namespace

HttpServer::HttpServer(ServerOptions options)
    : options_(std::move(options)), created_(UnixSeconds()), seed_rng_(options_.seed.value_or(0)) {}

HttpServer::~HttpServer() { Close(); }

Result<int> HttpServer::Open() {
  // Picking a free port races with other processes; try a few.
  for (int attempt = 0;; ++attempt) {
    int port = options_.port;
    if (port == 0) {
      auto picked = PickFreePort(options_.host);
      if (!picked.ok()) return picked.status();
      port = *picked;
    }
    web::http::experimental::listener::http_listener_config config;
    config.set_backlog(1024);
    auto listener = std::make_unique<web::http::experimental::listener::http_listener>(
        web::uri("http://" + options_.host + ":" + std::to_string(port) + "/"), config);
    listener->support([this](http_request req) { Handle(std::move(req)); });
    try {
      listener->open().wait();
      listener_ = std::move(listener);
      return port;
    } catch (const std::exception& e) {
      if (options_.port != 0 || attempt >= 4) {
        return Status::Io("cannot listen on " + options_.host + ":" + std::to_string(port) + ": " + e.what());
      }
    }
  }
}

void HttpServer::SetModel(Engine* engine, ServedModel model, int64_t num_kv_blocks) {
  engine_ = engine;
  model_ = std::move(model);
  num_kv_blocks_ = num_kv_blocks;
  metrics_ = std::make_unique<ServerMetrics>(model_.names.front());
  ready_.store(true, std::memory_order_release);
}

void HttpServer::BeginDrain() { draining_ = true; }

void HttpServer::Close() {
  if (!listener_) return;
  try {
    listener_->close().wait();
  } catch (const std::exception&) {
    // Closing a listener whose connections already broke is not worth reporting at exit.
  }
  listener_.reset();
}

void HttpServer::Log(const http_request& req, int status, const std::string& error) {
  if (ready_.load(std::memory_order_acquire)) metrics_->RecordHttp(status);
  AccessRecord r;
  r.method = req.method();
  r.path = req.relative_uri().path();
  r.status = status;
  r.error = error;
  WriteAccessRecord(r);
}

void HttpServer::ReplyJson(http_request req, int status, const std::string& body, const std::string& error) {
  http_response resp(static_cast<web::http::status_code>(status));
  resp.set_body(body, "application/json");
  Log(req, status, error);  // before the reply, so a client that has its answer also finds its log line
  Send(req, resp);
}

void HttpServer::ReplyError(http_request req, const ApiError& error) {
  http_response resp(static_cast<web::http::status_code>(error.http_status));
  resp.set_body(DumpJson(error.ToJson()), "application/json");
  if (error.http_status == 429) resp.headers().add("Retry-After", "1");
  if (error.http_status == 401) resp.headers().add("WWW-Authenticate", "Bearer");
  Send(req, resp);
  Log(req, error.http_status, error.message);
}

void HttpServer::Handle(http_request req) {
  const std::string path = req.relative_uri().path();
  const std::string method = req.method();
  const bool ready = ready_.load(std::memory_order_acquire);
  if (path == "/live") {
    if (method != methods::GET && method != methods::HEAD) return ReplyError(req, ApiError::MethodNotAllowed("use GET " + path));
    return ReplyJson(req, 200, "{\"status\":\"alive\"}");
  }
  if (path == "/health") {
    if (method != methods::GET && method != methods::HEAD) return ReplyError(req, ApiError::MethodNotAllowed("use GET " + path));
    if (!ready) return ReplyError(req, ApiError::Unavailable("the model is loading"));
    if (draining_) return ReplyError(req, ApiError::Unavailable("the server is shutting down"));
    return ReplyJson(req, 200, "{}");
  }
  if (path == "/metrics") {
    if (method != methods::GET) return ReplyError(req, ApiError::MethodNotAllowed("use GET " + path));
    return HandleMetrics(req);
  }
  const bool models = path == "/v1/models";
  const bool completions = path == "/v1/completions";
  const bool chat = path == "/v1/chat/completions";
  if (!models && !completions && !chat) return ReplyError(req, ApiError::NotFound("no route for " + method + " " + path));
  if (models ? method != methods::GET : method != methods::POST) {
    return ReplyError(req, ApiError::MethodNotAllowed("use " + std::string(models ? "GET " : "POST ") + path));
  }
  if (!options_.api_keys.Allows(Header(req, "Authorization"))) return ReplyError(req, ApiError::Unauthorized());
  if (!ready) return ReplyError(req, ApiError::Unavailable("the model is loading"));
  if (models) return HandleModels(req);
  if (draining_) return ReplyError(req, ApiError::Unavailable("the server is shutting down"));
  if (req.headers().content_length() > options_.max_body_bytes) {
    return ReplyError(req, ApiError{413, "invalid_request_error", "the request body is larger than " +
                                    std::to_string(options_.max_body_bytes) + " bytes", "", ""});
  }
  req.extract_utf8string(/*ignore_content_type=*/true).then([this, req, chat](pplx::task<std::string> body) {
    std::string text;
    try {
      text = body.get();
    } catch (const std::exception&) {
      return ReplyError(req, ApiError::Invalid("the request body could not be read"));
    }
    HandleGeneration(req, chat, text);
  });
}

void HttpServer::HandleModels(http_request req) {
  ReplyJson(req, 200, DumpJson(ModelsResponse(model_.names, created_, model_.max_model_len, model_.names.front())));
}

void HttpServer::HandleMetrics(http_request req) {
  std::string text = ready_.load(std::memory_order_acquire) ? metrics_->Render(engine_->stats(), num_kv_blocks_) : "";
  http_response resp(web::http::status_codes::OK);
  resp.set_body(text, "text/plain; version=0.0.4; charset=utf-8");
  Send(req, resp);
  Log(req, 200, "");
}

void HttpServer::HandleGeneration(http_request req, bool chat, const std::string& body) {
  ApiResult<PreparedJob> prepared = ApiError{};
  if (chat) {
    auto parsed = ParseChatRequest(body);
    if (!parsed.ok()) return ReplyError(req, parsed.error());
    prepared = PrepareChat(*parsed, model_);
  } else {
    auto parsed = ParseCompletionRequest(body);
    if (!parsed.ok()) return ReplyError(req, parsed.error());
    prepared = PrepareCompletion(*parsed, model_);
  }
  if (!prepared.ok()) return ReplyError(req, prepared.error());
  PreparedJob& job_spec = *prepared;
  if (options_.seed) {
    std::lock_guard<std::mutex> lock(seed_mu_);
    for (Request& r : job_spec.prompts) {
      if (!r.sampling.seed) r.sampling.seed = seed_rng_();
    }
  }
  JobOptions options = job_spec.options;
  options.header.id = (chat ? "chatcmpl-" : "cmpl-") + RandomHex();
  options.header.created = UnixSeconds();

  auto sse = options.stream ? std::make_shared<SseStream>() : nullptr;
  const std::string id = options.header.id, model = options.header.model, path = req.relative_uri().path();
  const bool stream = options.stream;
  JobSink sink;
  if (sse) {
    sink.write = [sse](const std::string& bytes) { sse->Write(bytes); };
    sink.close = [sse] { sse->Close(); };
  } else {
    sink.reply = [in_flight = in_flight_, req](int status, const std::string& text) mutable {
      http_response resp(static_cast<web::http::status_code>(status));
      resp.set_body(text, "application/json");
      // In flight until the last byte left (or the connection broke): a drain waits for that.
      req.reply(resp).then([in_flight](pplx::task<void> t) {
        try {
          t.get();
        } catch (const std::exception&) {
        }
        (*in_flight)--;
      });
    };
  }
  sink.done = [this, id, model, path, stream](const JobSummary& s) {
    metrics_->RecordHttp(s.status);
    AccessRecord r{id, "POST", path, model, s.status, s.prompt_tokens, s.completion_tokens,
                   s.ttft_s < 0 ? -1.0 : s.ttft_s * 1e3, s.total_s * 1e3, stream, s.finish_reason, s.error};
    WriteAccessRecord(r);
  };
  ServerMetrics* metrics = metrics_.get();
  auto job = std::make_shared<GenerationJob>(options, sink, engine_, model_.tokenizer,
                                             [metrics](double ttft, double e2e, int64_t tokens, const std::string& reason) {
                                               metrics->RecordRequest(ttft, e2e, tokens, reason);
                                             });
  (*in_flight_)++;
  if (auto err = job->Start(job_spec.prompts)) {
    (*in_flight_)--;
    return ReplyError(req, *err);
  }
  if (!sse) return;
  http_response resp(web::http::status_codes::OK);
  resp.headers().set_content_type("text/event-stream; charset=utf-8");
  resp.headers().add("Cache-Control", "no-cache");
  resp.headers().add("X-Accel-Buffering", "no");
  resp.set_body(sse->body());
  req.reply(resp).then([in_flight = in_flight_, job](pplx::task<void> t) {
    try {
      t.get();
    } catch (const std::exception&) {
      job->Abort();  // the write failed: the client is gone
    }
    (*in_flight)--;
  });
}

}  // namespace mixserve::server
