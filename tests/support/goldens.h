// A tiny model's goldens from Hugging Face transformers (hack/make-tiny-models.py): the prompts and
// greedy continuations in DIR/goldens.json and the logits tensors in DIR/goldens.safetensors, for
// the CPU and the CUDA golden tests alike.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/model/safetensors.h"

namespace mixserve::testing {

class Goldens {
 public:
  // Loads DIR's two golden files; a missing or unreadable file fails the calling test.
  void Load(const std::string& dir) {
    std::ifstream in(dir + "/goldens.json");
    ASSERT_TRUE(in) << "missing " << dir << "/goldens.json";
    meta_ = nlohmann::json::parse(in);
    auto tensors = model::SafetensorsFile::Open(dir + "/goldens.safetensors");
    ASSERT_TRUE(tensors.ok()) << tensors.status().message();
    tensors_ = std::make_unique<model::SafetensorsFile>(std::move(tensors).value());
  }

  const nlohmann::json& operator[](const char* key) const { return meta_[key]; }

  // The golden tensor `name` as fp32 (empty, and a test failure, when it is not there).
  std::vector<float> Tensor(const std::string& name) const {
    const model::TensorView* view = tensors_ ? tensors_->Find(name) : nullptr;
    EXPECT_NE(view, nullptr) << name;
    return view ? model::ToF32(*view) : std::vector<float>{};
  }

 private:
  nlohmann::json meta_;
  std::unique_ptr<model::SafetensorsFile> tensors_;
};

}  // namespace mixserve::testing
