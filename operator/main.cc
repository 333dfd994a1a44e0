// mixserve-operator: wires flags, the API client, leader election, the controller and the
// metrics/health endpoints together. Logs are JSON lines on stderr; SIGTERM or SIGINT stops cleanly
// (exit 0); losing leadership exits 1 so the pod restarts as a fresh candidate.
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "operator/api/duration.h"
#include "operator/controller/controller.h"
#include "operator/controller/http_endpoints.h"
#include "operator/controller/log.h"
#include "operator/controller/metrics.h"
#include "operator/kube/client.h"
#include "operator/kube/in_cluster.h"
#include "operator/kube/leader_election.h"
#include "operator/kube/rest_client.h"
#include "runtime/base/version.h"

namespace {

using mixserve::controller::LogJson;

const char kUsage[] =
    "usage: mixserve-operator [flags]\n"
    "  --kubeconfig PATH                 kubeconfig (default $KUBECONFIG; in-cluster config when unset)\n"
    "  --namespace NS                    watch one namespace (default: all)\n"
    "  --runtime-image IMAGE             image for LLMServices without spec.runtime.image\n"
    "                                    (default ghcr.io/mixserve/mixserve:<version>)\n"
    "  --concurrency N                   reconcile workers (default 8)\n"
    "  --resync-period DURATION          requeue every LLMService this often (default 30s)\n"
    "  --metrics-bind-address ADDR       /metrics (default :8080; 0 disables)\n"
    "  --health-probe-bind-address ADDR  /healthz and /readyz (default :8081; 0 disables)\n"
    "  --leader-elect                    run only while holding a coordination.k8s.io Lease\n"
    "  --leader-election-namespace NS    the Lease's namespace (default: the pod's, else default)\n"
    "  --leader-election-id NAME         the Lease's name (default mixserve-operator)\n"
    "  --leader-lease-duration D, --leader-renew-deadline D, --leader-retry-period D\n"
    "                                    Lease timings (default 15s, 10s, 2s)\n"
    "  --check                           connect to the API server, print its /readyz answer and exit\n"
    "  --version                         print the version and exit\n";

struct Flags {
  std::string kubeconfig = std::getenv("KUBECONFIG") ? std::getenv("KUBECONFIG") : "";
  std::string ns;
  std::string runtime_image = std::string("ghcr.io/mixserve/mixserve:") + mixserve::Version();
  int concurrency = 8;
  std::chrono::milliseconds resync{30000};
  std::string metrics_address = ":8080";
  std::string health_address = ":8081";
  bool leader_elect = false;
  std::string lease_namespace;
  std::string lease_name = "mixserve-operator";
  std::chrono::milliseconds lease_duration{15000}, renew_deadline{10000}, retry_period{2000};
  bool check = false;
};

int Usage(const std::string& message) {
  std::fprintf(stderr, "mixserve-operator: %s (try --help)\n", message.c_str());
  return 2;
}

bool ParseMillis(const std::string& text, std::chrono::milliseconds* out) {
  auto seconds = mixserve::api::ParseDurationSeconds(text);
  if (!seconds.ok() || *seconds <= 0) return false;
  *out = std::chrono::milliseconds(int64_t(*seconds * 1000));
  return out->count() > 0;
}

// 0: parsed; 1: exit 0 (--help, --version); 2: bad flag (message printed).
int ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--version") {
      std::printf("mixserve-operator %s\n", mixserve::Version());
      return 1;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 1;
    } else if (arg == "--check") {
      f->check = true;
    } else if (arg == "--leader-elect") {
      f->leader_elect = true;
    } else if (arg == "--kubeconfig" && value(&f->kubeconfig)) {
    } else if (arg == "--namespace" && value(&f->ns)) {
    } else if (arg == "--runtime-image" && value(&f->runtime_image)) {
    } else if (arg == "--metrics-bind-address" && value(&f->metrics_address)) {
    } else if (arg == "--health-probe-bind-address" && value(&f->health_address)) {
    } else if (arg == "--leader-election-namespace" && value(&f->lease_namespace)) {
    } else if (arg == "--leader-election-id" && value(&f->lease_name)) {
    } else if (arg == "--concurrency" && value(&v)) {
      f->concurrency = std::atoi(v.c_str());
      if (f->concurrency < 1 || f->concurrency > 256) return Usage("--concurrency must be 1..256, got '" + v + "'");
    } else if ((arg == "--resync-period" || arg == "--leader-lease-duration" || arg == "--leader-renew-deadline" ||
                arg == "--leader-retry-period") && value(&v)) {
      std::chrono::milliseconds* out = arg == "--resync-period"           ? &f->resync
                                       : arg == "--leader-lease-duration" ? &f->lease_duration
                                       : arg == "--leader-renew-deadline" ? &f->renew_deadline
                                                                          : &f->retry_period;
      if (!ParseMillis(v, out)) return Usage(arg + " must be a duration such as 30s or 500ms, got '" + v + "'");
    } else {
      return Usage("unknown flag or missing value '" + arg + "'");
    }
  }
  if (f->renew_deadline >= f->lease_duration) return Usage("--leader-renew-deadline must be shorter than --leader-lease-duration");
  return 0;
}

int Check(const mixserve::kube::ClusterAccess& access) {
  mixserve::kube::RestClient client(access);
  auto resp = client.Get("/readyz");
  if (!resp.ok()) {
    std::fprintf(stderr, "mixserve-operator: %s\n", resp.status().message().c_str());
    return 1;
  }
  std::printf("%s /readyz: %d %s\n", access.server.c_str(), resp->status, resp->body.c_str());
  return resp->status == 200 ? 0 : 1;
}

std::string Identity() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", rd());
  return std::string(host) + "_" + suffix;
}

std::string LeaseNamespace(const Flags& f) {
  if (!f.lease_namespace.empty()) return f.lease_namespace;
  if (const char* pod_ns = std::getenv("POD_NAMESPACE")) return pod_ns;
  if (!f.ns.empty()) return f.ns;
  return "default";
}

}  // namespace

int main(int argc, char** argv) {
  // Informer, watch and HTTP threads would each get a malloc arena of their own; the operator's heap
  // is small and mostly shared caches, so two arenas keep its RSS near what it uses.
  mallopt(M_ARENA_MAX, 2);
  Flags flags;
  if (int rc = ParseFlags(argc, argv, &flags); rc != 0) return rc == 1 ? 0 : rc;

  auto access = mixserve::kube::LoadClusterAccess(flags.kubeconfig);
  if (!access.ok()) {
    std::fprintf(stderr, "mixserve-operator: %s\n", access.status().message().c_str());
    return 1;
  }
  if (flags.check) return Check(*access);

  // Signals go to one waiting thread, never interrupting the others: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::atomic<bool> stopping{false};
  std::thread([&signals, &stopping] {
    int sig = 0;
    sigwait(&signals, &sig);
    LogJson("info", "signal received, stopping", {{"signal", sig}});
    stopping = true;
  }).detach();

  mixserve::kube::Client client(*access);
  mixserve::controller::Controller controller(
      &client, {.ns = flags.ns, .workers = flags.concurrency, .resync_period = flags.resync,
                .render = {.default_image = flags.runtime_image}});
  std::atomic<bool> leading{!flags.leader_elect};

  using mixserve::controller::HttpAnswer;
  std::unique_ptr<mixserve::controller::HttpEndpoints> metrics, health;
  if (flags.metrics_address != "0") {
    auto server = mixserve::controller::HttpEndpoints::Start(flags.metrics_address, {{"/metrics", [&] {
      std::string text = controller.MetricsText();
      text += mixserve::controller::MetricHeader("mixserve_operator_leader", "gauge", "1 while this replica reconciles.");
      text += mixserve::controller::MetricSample("mixserve_operator_leader", {}, leading ? 1 : 0);
      return HttpAnswer{200, text, "text/plain; version=0.0.4; charset=utf-8"};
    }}});
    if (!server.ok()) return LogJson("error", server.status().message()), 1;
    metrics = std::move(*server);
  }
  if (flags.health_address != "0") {
    auto server = mixserve::controller::HttpEndpoints::Start(
        flags.health_address,
        {{"/healthz", [] { return HttpAnswer{200, "ok\n"}; }},
         {"/readyz", [&] {
            if (!leading) return HttpAnswer{200, "standby: waiting for leadership\n"};
            return controller.Synced() ? HttpAnswer{200, "ok\n"} : HttpAnswer{503, "informers not synced\n"};
          }}});
    if (!server.ok()) return LogJson("error", server.status().message()), 1;
    health = std::move(*server);
  }
  LogJson("info", "starting", {{"version", mixserve::Version()}, {"server", access->server},
                               {"namespace", flags.ns.empty() ? "(all)" : flags.ns},
                               {"leaderElect", flags.leader_elect}, {"runtimeImage", flags.runtime_image}});

  bool lost = false;
  if (flags.leader_elect) {
    mixserve::kube::LeaderElectionConfig config{.ns = LeaseNamespace(flags), .name = flags.lease_name,
                                                .identity = Identity()};
    config.lease_duration_ms = flags.lease_duration;
    config.renew_deadline_ms = flags.renew_deadline;
    config.retry_period_ms = flags.retry_period;
    LogJson("info", "waiting for leadership", {{"lease", config.ns + "/" + config.name}, {"identity", config.identity}});
    mixserve::kube::LeaderElector elector(&client, config);
    elector.Run(
        [&] {
          LogJson("info", "became leader", {{"identity", config.identity}});
          leading = true;
          controller.Start();
        },
        [&] {
          leading = false;
          if (!stopping) {
            lost = true;
            LogJson("error", "lost leadership, exiting", {{"identity", config.identity}});
          }
        },
        [&] { return stopping.load(); });
  } else {
    controller.Start();
    while (!stopping) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  controller.Stop();
  metrics.reset();
  health.reset();
  LogJson("info", "stopped");
  return lost ? 1 : 0;
}
