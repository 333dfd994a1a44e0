// mixserve-render: prints what the operator would create for an LLMService, without a cluster.
// Reads one LLMService (YAML or JSON, e.g. `kubectl get llmsvc x -o json`) on stdin and writes its
// rendered children as a v1 List in JSON, ready for `kubectl apply --dry-run=server -f -`.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "operator/api/defaults.h"
#include "operator/api/llmservice_json.h"
#include "operator/api/validate.h"
#include "operator/api/yaml_json.h"
#include "operator/controller/render.h"
#include "runtime/base/version.h"

namespace {

const char kUsage[] =
    "usage: mixserve-render [--runtime-image IMAGE] [--spec] < llmservice.yaml\n"
    "  --runtime-image IMAGE  image when spec.runtime.image is empty (default mixserve:<version>)\n"
    "  --spec                 print the LLMService with the operator's defaults applied instead\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "mixserve-render: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  mixserve::controller::RenderOptions options{.default_image = std::string("mixserve:") + mixserve::Version()};
  bool print_spec = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--runtime-image" && i + 1 < argc) {
      options.default_image = argv[++i];
    } else if (arg == "--spec") {
      print_spec = true;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "mixserve-render: unknown flag '%s' (try --help)\n", arg.c_str());
      return 2;
    }
  }
  std::string input(std::istreambuf_iterator<char>(std::cin), {});
  auto json = mixserve::api::YamlToJson(input);
  if (!json.ok()) return Fail(json.status().message());
  auto service = mixserve::api::LLMServiceFromJson(*json);
  if (!service.ok()) return Fail(service.status().message());

  nlohmann::json out;
  if (print_spec) {
    mixserve::api::ApplyDefaults(service->spec);
    if (auto valid = mixserve::api::Validate(service->spec); !valid.ok()) return Fail(valid.message());
    out = mixserve::api::ToJson(*service);
  } else {
    auto children = mixserve::controller::Render(*service, options);
    if (!children.ok()) return Fail(children.status().message());
    out = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", *children}};
  }
  std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}
