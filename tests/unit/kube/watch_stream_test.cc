// Client::Watch against a scripted HTTP server (cpprestsdk's listener on loopback): events reach
// the callback while the response is still open, lines split across chunks are reassembled,
// bookmarks come through, a 410 ERROR event is Gone, and a stopped watch returns although the
// server keeps the stream open. (Integration tests cover the same against kube-apiserver.)
#include <gtest/gtest.h>

#include <cpprest/http_listener.h>
#include <cpprest/producerconsumerstream.h>

#include <condition_variable>
#include <future>
#include <random>
#include <thread>

#include "operator/kube/client.h"

namespace mixserve::kube {
namespace {

using nlohmann::json;
using web::http::experimental::listener::http_listener;

// A loopback HTTP server whose watch responses are written piece by piece by the test.
class ScriptedServer {
 public:
  ScriptedServer() {
    std::mt19937 rng(std::random_device{}());
    for (int attempt = 0; attempt < 50 && !listener_; ++attempt) {
      const int port = std::uniform_int_distribution<int>(20000, 29999)(rng);
      auto l = std::make_unique<http_listener>("http://127.0.0.1:" + std::to_string(port));
      l->support(web::http::methods::GET, [this](web::http::http_request req) { Serve(req); });
      try {
        l->open().wait();
        url_ = "http://127.0.0.1:" + std::to_string(port);
        listener_ = std::move(l);
      } catch (const std::exception&) {
      }
    }
  }
  ~ScriptedServer() {
    Close();
    if (listener_) listener_->close().wait();
  }

  const std::string& url() const { return url_; }
  bool ok() const { return listener_ != nullptr; }

  // Waits until a watch request arrived; returns its query string.
  std::string WaitForRequest() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [this] { return started_; });
    return query_;
  }
  // Sends bytes of the open response now.
  void Write(const std::string& bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    body_.putn_nocopy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()).wait();
    body_.sync().wait();
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_ && !closed_) body_.close(std::ios_base::out).wait();
    closed_ = true;
  }

 private:
  void Serve(web::http::http_request req) {
    web::http::http_response resp(web::http::status_codes::OK);
    resp.headers().set_content_type("application/json");
    resp.set_body(concurrency::streams::istream(body_));
    {
      std::lock_guard<std::mutex> lock(mu_);
      started_ = true;
      query_ = req.request_uri().query();
    }
    cv_.notify_all();
    req.reply(resp);
  }

  std::unique_ptr<http_listener> listener_;
  std::string url_;
  std::mutex mu_;
  std::condition_variable cv_;
  concurrency::streams::producer_consumer_buffer<uint8_t> body_;
  bool started_ = false;
  bool closed_ = false;
  std::string query_;
};

// Collects watch events and lets the test wait for a count.
struct Events {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> seen;
  void Add(const std::string& type, const json& object) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(type + " " + object["metadata"].value("name", "") + " " +
                   object["metadata"].value("resourceVersion", ""));
    cv.notify_all();
  }
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(30), [&] { return seen.size() >= n; });
  }
};

std::string Line(const std::string& type, const std::string& name, const std::string& rv) {
  return json{{"type", type}, {"object", {{"kind", "ConfigMap"}, {"metadata", {{"name", name}, {"resourceVersion", rv}}}}}}
             .dump() + "\n";
}

ClusterAccess Plain(const std::string& url) {
  ClusterAccess access;
  access.server = url;
  return access;
}

TEST(WatchStream, EventsArriveWhileTheResponseIsOpen) {
  ScriptedServer server;
  ASSERT_TRUE(server.ok()) << "no free loopback port";
  Client client(Plain(server.url()));
  Events events;
  auto watch = std::async(std::launch::async, [&] {
    return client.Watch(kConfigMapKind, "ns", "41", "app=x", 30,
                        [&](const std::string& type, const json& object) { events.Add(type, object); },
                        [] { return false; });
  });
  const std::string query = server.WaitForRequest();
  EXPECT_NE(query.find("watch=true"), std::string::npos) << query;
  EXPECT_NE(query.find("allowWatchBookmarks=true"), std::string::npos) << query;
  EXPECT_NE(query.find("resourceVersion=41"), std::string::npos) << query;
  EXPECT_NE(query.find("timeoutSeconds=30"), std::string::npos) << query;
  EXPECT_NE(query.find("labelSelector=app%3Dx"), std::string::npos) << query;

  server.Write(Line("ADDED", "a", "42"));
  ASSERT_TRUE(events.WaitFor(1)) << "the first event is delivered before the response ends";
  // One event split over three writes, then two events in one write.
  const std::string modified = Line("MODIFIED", "a", "43");
  server.Write(modified.substr(0, 10));
  server.Write(modified.substr(10, 20));
  server.Write(modified.substr(30));
  server.Write(Line("BOOKMARK", "", "50") + Line("DELETED", "a", "51"));
  ASSERT_TRUE(events.WaitFor(4));
  server.Close();
  ASSERT_EQ(watch.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  Status ended = watch.get();
  EXPECT_TRUE(ended.ok()) << ended.message();
  std::lock_guard<std::mutex> lock(events.mu);
  EXPECT_EQ(events.seen, (std::vector<std::string>{"ADDED a 42", "MODIFIED a 43", "BOOKMARK  50", "DELETED a 51"}));
  EXPECT_EQ((client.counters().Snapshot()[{"WATCH", 200}]), 1);
}

TEST(WatchStream, ErrorEventWith410IsGone) {
  ScriptedServer server;
  ASSERT_TRUE(server.ok()) << "no free loopback port";
  Client client(Plain(server.url()));
  Events events;
  auto watch = std::async(std::launch::async, [&] {
    return client.Watch(kConfigMapKind, "ns", "1", "", 30,
                        [&](const std::string& type, const json& object) { events.Add(type, object); },
                        [] { return false; });
  });
  server.WaitForRequest();
  server.Write(json{{"type", "ERROR"},
                    {"object",
                     {{"kind", "Status"}, {"code", 410}, {"reason", "Expired"}, {"message", "too old resource version"}}}}
                   .dump() +
               "\n");
  ASSERT_EQ(watch.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  Status s = watch.get();
  EXPECT_TRUE(IsGone(s)) << s.message();
  EXPECT_NE(s.message().find("too old resource version"), std::string::npos);
  EXPECT_TRUE(events.seen.empty());
}

TEST(WatchStream, StopEndsAWatchTheServerKeepsOpen) {
  ScriptedServer server;
  ASSERT_TRUE(server.ok()) << "no free loopback port";
  Client client(Plain(server.url()));
  Events events;
  std::atomic<bool> stop{false};
  auto watch = std::async(std::launch::async, [&] {
    return client.Watch(kConfigMapKind, "ns", "", "", 3600,
                        [&](const std::string& type, const json& object) { events.Add(type, object); },
                        [&] { return stop.load(); });
  });
  server.WaitForRequest();
  server.Write(Line("ADDED", "a", "2"));
  ASSERT_TRUE(events.WaitFor(1));
  stop = true;
  ASSERT_EQ(watch.wait_for(std::chrono::seconds(30)), std::future_status::ready)
      << "a stopped watch returns without the server ending the response";
  Status s = watch.get();
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(WatchStream, ConnectionRefusedIsUnavailable) {
  Client client(Plain("http://127.0.0.1:1"));
  Status s = client.Watch(kConfigMapKind, "ns", "", "", 5, [](const std::string&, const json&) {}, [] { return false; });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_FALSE(IsGone(s));
  EXPECT_EQ((client.counters().Snapshot()[{"WATCH", 0}]), 1) << "no answer counts as code 0";
}

}  // namespace
}  // namespace mixserve::kube
