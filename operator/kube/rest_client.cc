#include "operator/kube/rest_client.h"

#include <cpprest/http_client.h>

#include <boost/asio/ssl.hpp>
#include <openssl/ssl.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace mixserve::kube {
namespace {

web::http::client::http_client_config MakeConfig(const ClusterAccess* a, std::chrono::milliseconds timeout) {
  web::http::client::http_client_config config;
  config.set_validate_certificates(!a->insecure_skip_tls_verify);
  // For streams this bounds the silence between two chunks, not the whole response.
  config.set_timeout(timeout);
  config.set_ssl_context_callback([a](boost::asio::ssl::context& ctx) {
    if (!a->ca_pem.empty()) {
      // With a cluster CA, trust only that CA (as client-go does). Replacing the store also frees the
      // system CA store cpprestsdk loaded into this connection's context: ~0.5 MB per pooled connection.
      SSL_CTX_set_cert_store(ctx.native_handle(), X509_STORE_new());
      ctx.add_certificate_authority(boost::asio::buffer(a->ca_pem));
    }
    if (!a->client_cert_pem.empty()) {
      ctx.use_certificate_chain(boost::asio::buffer(a->client_cert_pem));
      ctx.use_private_key(boost::asio::buffer(a->client_key_pem), boost::asio::ssl::context::pem);
    }
  });
  return config;
}

// Calls `cancel` once `stop` returns true, polling every 100 ms until Finish().
class StopWatcher {
 public:
  StopWatcher(const std::function<bool()>& stop, pplx::cancellation_token_source cts) {
    if (!stop) return;
    thread_ = std::thread([this, &stop, cts]() mutable {
      std::unique_lock<std::mutex> lock(mu_);
      while (!done_) {
        if (stop()) {
          stopped_ = true;
          cts.cancel();
          return;
        }
        cv_.wait_for(lock, std::chrono::milliseconds(100));
      }
    });
  }
  ~StopWatcher() { Finish(); }
  void Finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  bool stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace

struct RestClient::Impl {
  ClusterAccess access;
  std::unique_ptr<web::http::client::http_client> http;
  std::unique_ptr<web::http::client::http_client> stream_http;

  // Builds a request with the Accept and Authorization headers; fails when the token provider does.
  Result<web::http::http_request> NewRequest(const std::string& method, const std::string& path) {
    web::http::http_request req(method);
    req.set_request_uri(path);
    std::string token = access.bearer_token;
    if (access.token_provider) {
      auto provided = access.token_provider();
      if (!provided.ok()) return provided.status().WithContext(method + " " + path + ": credentials");
      token = *provided;
    }
    if (!token.empty()) req.headers().add("Authorization", "Bearer " + token);
    req.headers().add("Accept", "application/json");
    return req;
  }
};

RestClient::RestClient(ClusterAccess access) : impl_(std::make_unique<Impl>()) {
  impl_->access = std::move(access);
  const ClusterAccess* a = &impl_->access;  // owned by impl_, which outlives the clients
  impl_->http = std::make_unique<web::http::client::http_client>(impl_->access.server,
                                                                 MakeConfig(a, a->request_timeout));
  impl_->stream_http = std::make_unique<web::http::client::http_client>(impl_->access.server,
      MakeConfig(a, std::max<std::chrono::milliseconds>(a->request_timeout, std::chrono::minutes(5))));
}

RestClient::~RestClient() = default;

const ClusterAccess& RestClient::access() const { return impl_->access; }

Result<Response> RestClient::Get(const std::string& path) { return Request("GET", path); }

Result<Response> RestClient::Request(const std::string& method, const std::string& path, const std::string& body,
                                     const std::string& content_type) {
  auto req = impl_->NewRequest(method, path);
  if (!req.ok()) return req.status();
  if (!body.empty()) req->set_body(body, content_type);
  try {
    auto resp = impl_->http->request(*req).get();
    Response out;
    out.status = resp.status_code();
    out.body = resp.extract_utf8string(true).get();
    return out;
  } catch (const std::exception& e) {
    return Status::Unavailable(method + " " + impl_->access.server + path + ": " + e.what());
  }
}

Status RestClient::Stream(const std::string& path, const std::function<void(int status)>& on_status,
                          const std::function<bool(const std::string& line)>& on_line,
                          const std::function<bool()>& stop, std::string* error_body) {
  auto req = impl_->NewRequest("GET", path);
  if (!req.ok()) return req.status();
  pplx::cancellation_token_source cts;
  // Cancelling on every exit closes the connection of a stream left early (stop, on_line false).
  struct CancelOnExit {
    pplx::cancellation_token_source cts;
    ~CancelOnExit() { cts.cancel(); }
  } cancel_on_exit{cts};
  StopWatcher watcher(stop, cts);
  try {
    auto resp = impl_->stream_http->request(*req, cts.get_token()).get();
    if (on_status) on_status(resp.status_code());
    if (resp.status_code() != web::http::status_codes::OK) {
      std::string body = resp.extract_utf8string(true).get();
      if (error_body) *error_body = std::move(body);
      return Status::Ok();
    }
    auto buf = resp.body().streambuf();
    std::string line;
    unsigned char chunk[16384];
    while (true) {
      size_t avail = buf.in_avail();
      if (avail > 0) {
        // Data already received: copy it without waiting.
        size_t n = buf.getn(chunk, std::min(avail, sizeof(chunk))).get();
        size_t start = 0;
        for (size_t i = 0; i < n; ++i) {
          if (chunk[i] != '\n') continue;
          line.append(reinterpret_cast<const char*>(chunk) + start, i - start);
          start = i + 1;
          if (!line.empty() && !on_line(line)) return Status::Ok();
          line.clear();
        }
        line.append(reinterpret_cast<const char*>(chunk) + start, n - start);
        continue;
      }
      // Nothing buffered: wait for the next byte (or the end, or the cancellation).
      auto c = buf.bumpc().get();
      if (c == decltype(buf)::traits::eof()) break;
      if (c != '\n') {
        line.push_back(static_cast<char>(c));
      } else {
        if (!line.empty() && !on_line(line)) return Status::Ok();
        line.clear();
      }
    }
    if (!line.empty()) on_line(line);
    return Status::Ok();
  } catch (const std::exception& e) {
    if (watcher.stopped()) return Status::Ok();
    return Status::Unavailable("GET " + impl_->access.server + path + ": " + e.what());
  }
}

}  // namespace mixserve::kube
