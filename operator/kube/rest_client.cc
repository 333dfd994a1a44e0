#include "operator/kube/rest_client.h"

#include <cpprest/http_client.h>

#include <boost/asio/ssl.hpp>

namespace mixserve::kube {

struct RestClient::Impl {
  ClusterAccess access;
  std::unique_ptr<web::http::client::http_client> http;
};

RestClient::RestClient(ClusterAccess access) : impl_(std::make_unique<Impl>()) {
  impl_->access = std::move(access);
  web::http::client::http_client_config config;
  config.set_validate_certificates(!impl_->access.insecure_skip_tls_verify);
  config.set_timeout(std::chrono::seconds(30));
  const ClusterAccess* a = &impl_->access;  // owned by impl_, which outlives the client
  config.set_ssl_context_callback([a](boost::asio::ssl::context& ctx) {
    if (!a->ca_pem.empty()) ctx.add_certificate_authority(boost::asio::buffer(a->ca_pem));
    if (!a->client_cert_pem.empty()) {
      ctx.use_certificate_chain(boost::asio::buffer(a->client_cert_pem));
      ctx.use_private_key(boost::asio::buffer(a->client_key_pem), boost::asio::ssl::context::pem);
    }
  });
  impl_->http = std::make_unique<web::http::client::http_client>(impl_->access.server, config);
}

RestClient::~RestClient() = default;

Result<Response> RestClient::Get(const std::string& path) { return Request("GET", path); }

Result<Response> RestClient::Request(const std::string& method, const std::string& path, const std::string& body,
                                     const std::string& content_type) {
  web::http::http_request req(method);
  req.set_request_uri(path);
  if (!impl_->access.bearer_token.empty()) req.headers().add("Authorization", "Bearer " + impl_->access.bearer_token);
  req.headers().add("Accept", "application/json");
  if (!body.empty()) req.set_body(body, content_type);
  try {
    auto resp = impl_->http->request(req).get();
    Response out;
    out.status = resp.status_code();
    out.body = resp.extract_utf8string(true).get();
    return out;
  } catch (const std::exception& e) {
    return Status::Unavailable(method + " " + impl_->access.server + path + ": " + e.what());
  }
}

}  // namespace mixserve::kube
