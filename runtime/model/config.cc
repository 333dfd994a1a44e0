#include "runtime/model/config.h"

#include <nlohmann/json.hpp>

#include "runtime/model/json_object.h"
#include "runtime/model/mapped_file.h"

namespace mixserve::model {
namespace {

using nlohmann::json;

Status FieldError(const std::string& field, const std::string& what) {
  return Status::InvalidArgument("field " + field + ": " + what);
}

// Accessors over the parsed object; each names its field in the error it returns.
class Fields {
 public:
  explicit Fields(const json& object) : object_(object) {}

  const json* Find(const std::string& field) const {
    auto it = object_.find(field);
    return it == object_.end() ? nullptr : &*it;
  }

  Result<int64_t> PositiveInt(const std::string& field) const {
    const json* value = Find(field);
    if (value == nullptr) return Status::InvalidArgument("missing field " + field);
    return PositiveInt(field, *value);
  }

  static Result<int64_t> PositiveInt(const std::string& field, const json& value) {
    if (!value.is_number_unsigned() || value.get<uint64_t>() == 0 || value.get<uint64_t>() > kMaxDimension) {
      return FieldError(field, "expected a positive integer up to " + std::to_string(kMaxDimension) + ", got " +
                                   DescribeJson(value));
    }
    return static_cast<int64_t>(value.get<uint64_t>());
  }

  Result<double> PositiveNumber(const std::string& field) const {
    const json* value = Find(field);
    if (value == nullptr) return Status::InvalidArgument("missing field " + field);
    if (!value->is_number() || !(value->get<double>() > 0)) {
      return FieldError(field, "expected a positive number, got " + DescribeJson(*value));
    }
    return value->get<double>();
  }

  // Dimensions beyond this are corrupt configs.
  static constexpr uint64_t kMaxDimension = uint64_t{1} << 31;

 private:
  const json& object_;
};

Result<Architecture> ParseArchitecture(const Fields& fields, std::string& name) {
  const json* value = fields.Find("architectures");
  if (value == nullptr) return Status::InvalidArgument("missing field architectures");
  if (!value->is_array() || value->size() != 1 || !(*value)[0].is_string()) {
    return FieldError("architectures", "expected a list of one architecture name");
  }
  name = (*value)[0].get<std::string>();
  if (name == "MixtralForCausalLM") return Architecture::kMixtral;
  if (name == "MistralForCausalLM") return Architecture::kMistral;
  return FieldError("architectures", "unknown architecture " + MessageSafe(name) +
                                         " (supported: MixtralForCausalLM, MistralForCausalLM)");
}

// Fills the fields every architecture has; the experts are read by the caller.
Status ParseCommonFields(const Fields& fields, ModelConfig& config) {
  struct IntField {
    const char* name;
    int64_t* target;
  };
  const IntField int_fields[] = {{"hidden_size", &config.hidden_size},
                                 {"num_hidden_layers", &config.num_layers},
                                 {"num_attention_heads", &config.num_attention_heads},
                                 {"num_key_value_heads", &config.num_kv_heads},
                                 {"intermediate_size", &config.intermediate_size},
                                 {"vocab_size", &config.vocab_size},
                                 {"max_position_embeddings", &config.max_position_embeddings}};
  for (const IntField& f : int_fields) {
    auto value = fields.PositiveInt(f.name);
    if (!value.ok()) return value.status();
    *f.target = *value;
  }
  auto rope_theta = fields.PositiveNumber("rope_theta");
  if (!rope_theta.ok()) return rope_theta.status();
  config.rope_theta = *rope_theta;
  auto eps = fields.PositiveNumber("rms_norm_eps");
  if (!eps.ok()) return eps.status();
  config.rms_norm_eps = *eps;

  const json* head_dim = fields.Find("head_dim");
  if (head_dim != nullptr && !head_dim->is_null()) {
    auto value = Fields::PositiveInt("head_dim", *head_dim);
    if (!value.ok()) return value.status();
    config.head_dim = *value;
  } else if (config.hidden_size % config.num_attention_heads != 0) {
    return FieldError("num_attention_heads", std::to_string(config.num_attention_heads) +
                                                 " does not divide hidden_size " + std::to_string(config.hidden_size) +
                                                 " and head_dim is not given");
  } else {
    config.head_dim = config.hidden_size / config.num_attention_heads;
  }
  if (config.num_attention_heads % config.num_kv_heads != 0) {
    return FieldError("num_key_value_heads", std::to_string(config.num_kv_heads) +
                                                 " does not divide num_attention_heads " +
                                                 std::to_string(config.num_attention_heads));
  }

  const json* window = fields.Find("sliding_window");
  if (window != nullptr && !window->is_null()) {
    auto value = Fields::PositiveInt("sliding_window", *window);
    if (!value.ok()) return value.status();
    config.sliding_window_tokens = *value;
  }
  const json* tie = fields.Find("tie_word_embeddings");
  if (tie != nullptr) {
    if (!tie->is_boolean()) {
      return FieldError("tie_word_embeddings", "expected true or false, got " + DescribeJson(*tie));
    }
    config.tie_word_embeddings = tie->get<bool>();
  }

  // transformers writes "torch_dtype"; releases since 4.56 write "dtype" instead.
  const char* dtype_field = fields.Find("torch_dtype") != nullptr ? "torch_dtype" : "dtype";
  const json* dtype = fields.Find(dtype_field);
  if (dtype == nullptr) return Status::InvalidArgument("missing field torch_dtype");
  if (!dtype->is_string()) return FieldError(dtype_field, "expected a string, got " + DescribeJson(*dtype));
  auto parsed_dtype = ParseTorchDType(dtype->get<std::string>());
  if (!parsed_dtype.ok()) return FieldError(dtype_field, parsed_dtype.status().message());
  config.dtype = *parsed_dtype;
  return Status::Ok();
}

Status ParseExperts(const Fields& fields, ModelConfig& config) {
  auto experts = fields.PositiveInt("num_local_experts");
  if (!experts.ok()) return experts.status();
  auto per_token = fields.PositiveInt("num_experts_per_tok");
  if (!per_token.ok()) return per_token.status();
  if (*per_token > *experts) {
    return FieldError("num_experts_per_tok", std::to_string(*per_token) + " is more than num_local_experts " +
                                                 std::to_string(*experts));
  }
  config.num_experts = *experts;
  config.experts_per_token = *per_token;
  return Status::Ok();
}

// int64 arithmetic that remembers whether any step on the way overflowed.
class CheckedInt {
 public:
  CheckedInt(int64_t value) : value_(value) {}
  int64_t value() const { return value_; }
  bool overflowed() const { return overflowed_; }

  friend CheckedInt operator+(CheckedInt a, CheckedInt b) {
    CheckedInt sum(0);
    sum.overflowed_ = __builtin_add_overflow(a.value_, b.value_, &sum.value_) || a.overflowed_ || b.overflowed_;
    return sum;
  }
  friend CheckedInt operator*(CheckedInt a, CheckedInt b) {
    CheckedInt product(0);
    product.overflowed_ = __builtin_mul_overflow(a.value_, b.value_, &product.value_) || a.overflowed_ || b.overflowed_;
    return product;
  }

 private:
  int64_t value_;
  bool overflowed_ = false;
};

}  // namespace

Result<ModelConfig> ParseModelConfig(std::string_view json_text) {
  auto object = ParseJsonObject(json_text);
  if (!object.ok()) return object.status();
  Fields fields(*object);
  ModelConfig config;
  auto architecture = ParseArchitecture(fields, config.architecture_name);
  if (!architecture.ok()) return architecture.status();
  config.architecture = *architecture;
  if (Status s = ParseCommonFields(fields, config); !s.ok()) return s;
  if (config.is_moe()) {
    if (Status s = ParseExperts(fields, config); !s.ok()) return s;
  }
  if (auto counts = CountParameters(config); !counts.ok()) return counts.status();
  return config;
}

Result<ModelConfig> LoadModelConfig(const std::string& path) {
  auto file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  std::string_view text(reinterpret_cast<const char*>(file->bytes().data()), file->bytes().size());
  auto config = ParseModelConfig(text);
  if (!config.ok()) return config.status().WithContext(path);
  return config;
}

Result<ParameterCounts> CountParameters(const ModelConfig& config) {
  const CheckedInt hidden = config.hidden_size;
  const CheckedInt vocab = config.vocab_size;
  const CheckedInt layers = config.num_layers;
  const CheckedInt embedding = vocab * hidden;
  const CheckedInt lm_head = config.tie_word_embeddings ? CheckedInt(0) : vocab * hidden;
  const CheckedInt attention =
      hidden * config.head_dim * (CheckedInt(2) * config.num_attention_heads + CheckedInt(2) * config.num_kv_heads);
  const CheckedInt norms = CheckedInt(2) * hidden;
  const CheckedInt router = config.is_moe() ? CheckedInt(config.num_experts) * hidden : CheckedInt(0);
  const CheckedInt expert = CheckedInt(3) * hidden * config.intermediate_size;
  const CheckedInt shared_per_layer = attention + norms + router;
  const CheckedInt total =
      embedding + lm_head + hidden + layers * (shared_per_layer + CheckedInt(config.num_experts) * expert);
  // Tied or not, scoring the vocabulary reads vocab_size x hidden_size weights once per token; the
  // embedding lookup reads one row of hidden_size.
  const CheckedInt touched =
      hidden + vocab * hidden + hidden + layers * (shared_per_layer + CheckedInt(config.experts_per_token) * expert);
  for (const CheckedInt& value : {total, touched}) {
    if (value.overflowed()) return Status::InvalidArgument("parameter count overflows int64");
  }
  ParameterCounts counts;
  counts.embedding = embedding.value();
  counts.lm_head = lm_head.value();
  counts.attention_per_layer = attention.value();
  counts.norms_per_layer = norms.value();
  counts.router_per_layer = router.value();
  counts.expert_per_layer = expert.value();
  counts.final_norm = hidden.value();
  counts.total = total.value();
  counts.touched_per_token = touched.value();
  return counts;
}

}  // namespace mixserve::model
