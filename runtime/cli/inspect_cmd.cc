// `mixserve inspect-weights --model DIR [--tensor NAME]`: what a model folder's safetensors hold,
// as JSON on stdout. Without --tensor: every tensor's name, dtype, shape and file. With it: that
// tensor alone plus its values converted to fp32 (non-finite values as "nan", "inf", "-inf").
// A debugging aid, and how tests/unit/test_safetensors_interop.py checks files Python wrote.
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "runtime/cli/command.h"
#include "runtime/cli/flags.h"
#include "runtime/model/weights.h"

namespace mixserve::cli {
namespace {

using nlohmann::json;

constexpr const char* kUsage = "usage: mixserve inspect-weights --model DIR [--tensor NAME]\n";

json Describe(const model::ModelWeights& weights, const model::TensorView& view) {
  return {{"name", view.name},
          {"dtype", model::DTypeName(view.dtype)},
          {"shape", view.shape},
          {"file", weights.FileOf(view.name).value_or("")}};
}

json Values(const model::TensorView& view) {
  json values = json::array();
  for (float v : model::ToF32(view)) {
    if (std::isnan(v)) {
      values.push_back("nan");
    } else if (std::isinf(v)) {
      values.push_back(v > 0 ? "inf" : "-inf");
    } else {
      values.push_back(v);
    }
  }
  return values;
}

int RunInspectWeights(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"model", "tensor"}, {"help"});
  if (!flags.ok()) {
    std::fprintf(stderr, "mixserve inspect-weights: %s\n%s", flags.status().message().c_str(), kUsage);
    return 2;
  }
  if (flags->Has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto model_dir = flags->Get("model");
  if (!model_dir || !flags->positional().empty()) {
    std::fprintf(stderr, "mixserve inspect-weights: %s\n%s",
                 model_dir ? "unexpected positional arguments" : "--model is required", kUsage);
    return 2;
  }
  auto weights = model::ModelWeights::Open(*model_dir);
  if (!weights.ok()) {
    std::fprintf(stderr, "mixserve inspect-weights: %s\n", weights.status().message().c_str());
    return 1;
  }
  json out;
  if (auto name = flags->Get("tensor")) {
    auto view = weights->Get(*name);
    if (!view.ok()) {
      std::fprintf(stderr, "mixserve inspect-weights: %s\n", view.status().message().c_str());
      return 1;
    }
    out = Describe(*weights, *view);
    out["values"] = Values(*view);
  } else {
    out = {{"model", *model_dir}, {"tensors", json::array()}};
    for (const auto& [name, view] : weights->tensors()) out["tensors"].push_back(Describe(*weights, view));
  }
  std::printf("%s\n", out.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  return 0;
}

MIXSERVE_COMMAND("inspect-weights", "print a model folder's tensors (and one tensor's values) as JSON",
                 RunInspectWeights);

}  // namespace
}  // namespace mixserve::cli
