#include "runtime/server/openai_request.h"

#include <cmath>
#include <limits>

namespace mixserve::server {
namespace {

using nlohmann::json;
using Error = std::optional<ApiError>;

// Reads the known fields of a request object. Each getter leaves `out` untouched when the field is
// absent or null, and returns the error for a value of the wrong type or out of range.
class Fields {
 public:
  explicit Fields(const json& obj) : obj_(obj) {}

  const json* Find(const char* name) const {
    auto it = obj_.find(name);
    return it == obj_.end() || it->is_null() ? nullptr : &*it;
  }

  Error Bool(const char* name, bool& out) const {
    const json* v = Find(name);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) return ApiError::Invalid(std::string("'") + name + "' must be a boolean", name);
    out = v->get<bool>();
    return std::nullopt;
  }

  Error String(const char* name, std::string& out) const {
    const json* v = Find(name);
    if (!v) return std::nullopt;
    if (!v->is_string()) return ApiError::Invalid(std::string("'") + name + "' must be a string", name);
    out = v->get<std::string>();
    return std::nullopt;
  }

  Error Number(const char* name, double lo, double hi, float& out) const {
    const json* v = Find(name);
    if (!v) return std::nullopt;
    if (!v->is_number()) return ApiError::Invalid(std::string("'") + name + "' must be a number", name);
    double d = v->get<double>();
    if (!(d >= lo && d <= hi)) {
      return ApiError::Invalid(std::string("'") + name + "' must be between " + Format(lo) + " and " + Format(hi) +
                                   ", got " + Format(d),
                               name);
    }
    out = static_cast<float>(d);
    return std::nullopt;
  }

  Error Int(const char* name, int64_t lo, int64_t hi, std::optional<int64_t>& out) const {
    const json* v = Find(name);
    if (!v) return std::nullopt;
    int64_t i = 0;
    if (v->is_number_integer()) {
      if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return ApiError::Invalid(std::string("'") + name + "' is out of range", name);
      }
      i = v->get<int64_t>();
    } else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
               std::fabs(v->get<double>()) < 9e15) {
      i = static_cast<int64_t>(v->get<double>());  // 16.0 is an integer to JSON, and to Python clients
    } else {
      return ApiError::Invalid(std::string("'") + name + "' must be an integer", name);
    }
    if (i < lo || i > hi) {
      return ApiError::Invalid(std::string("'") + name + "' must be between " + std::to_string(lo) + " and " +
                                   std::to_string(hi) + ", got " + std::to_string(i),
                               name);
    }
    out = i;
    return std::nullopt;
  }

 private:
  static std::string Format(double d) {
    if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
    return json(d).dump();
  }

  const json& obj_;
};

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// Token ids: a non-empty array of integers in [0, 2^31).
Error TokenIds(const json& v, const char* param, std::vector<int32_t>& out) {
  if (!v.is_array() || v.empty()) return ApiError::Invalid(std::string("'") + param + "' must be a non-empty list of token ids", param);
  out.clear();
  for (const json& t : v) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > kInt32Max) {
      return ApiError::Invalid(std::string("'") + param + "' must hold non-negative integer token ids", param);
    }
    out.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return std::nullopt;
}

Error ParseStop(const Fields& f, std::vector<std::string>& out) {
  const json* v = f.Find("stop");
  if (!v) return std::nullopt;
  if (v->is_string()) {
    if (!v->get_ref<const std::string&>().empty()) out.push_back(v->get<std::string>());
    return std::nullopt;
  }
  if (!v->is_array()) return ApiError::Invalid("'stop' must be a string or a list of strings", "stop");
  if (v->size() > kMaxStopStrings) {
    return ApiError::Invalid("'stop' may hold at most " + std::to_string(kMaxStopStrings) + " strings", "stop");
  }
  for (const json& s : *v) {
    if (!s.is_string()) return ApiError::Invalid("'stop' must be a string or a list of strings", "stop");
    if (!s.get_ref<const std::string&>().empty()) out.push_back(s.get<std::string>());
  }
  return std::nullopt;
}

// The fields both endpoints share. `max_tokens_fields` in order of precedence.
Error ParseGeneration(const json& body, std::initializer_list<const char*> max_tokens_fields, GenerationRequest& gen) {
  Fields f(body);
  if (Error e = f.String("model", gen.model)) return e;
  for (const char* name : max_tokens_fields) {
    if (gen.max_tokens) break;
    if (Error e = f.Int(name, 1, kInt64Max, gen.max_tokens)) return e;
  }
  std::optional<int64_t> n;
  if (Error e = f.Int("n", 1, kMaxChoices, n)) return e;
  gen.n = static_cast<int>(n.value_or(1));
  std::optional<int64_t> best_of;
  if (Error e = f.Int("best_of", 1, kMaxChoices, best_of)) return e;
  if (best_of && *best_of != gen.n) return ApiError::Invalid("'best_of' other than 'n' is not supported", "best_of");
  if (Error e = f.Bool("stream", gen.stream)) return e;
  if (const json* opts = f.Find("stream_options")) {
    if (!opts->is_object()) return ApiError::Invalid("'stream_options' must be an object", "stream_options");
    if (!gen.stream) return ApiError::Invalid("'stream_options' is only allowed when 'stream' is true", "stream_options");
    if (Error e = Fields(*opts).Bool("include_usage", gen.include_usage)) {
      e->param = "stream_options.include_usage";
      return e;
    }
  }
  if (Error e = ParseStop(f, gen.stop)) return e;
  if (const json* ids = f.Find("stop_token_ids")) {
    if (!(ids->is_array() && ids->empty())) {
      if (Error e = TokenIds(*ids, "stop_token_ids", gen.stop_token_ids)) return e;
    }
  }
  if (Error e = f.Bool("ignore_eos", gen.ignore_eos)) return e;
  if (Error e = f.Bool("skip_special_tokens", gen.skip_special_tokens)) return e;

  SamplingParams& s = gen.sampling;
  if (Error e = f.Number("temperature", 0.0, 2.0, s.temperature)) return e;
  if (Error e = f.Number("top_p", 0.0, 1.0, s.top_p)) return e;
  if (s.top_p <= 0.0f) return ApiError::Invalid("'top_p' must be greater than 0", "top_p");
  std::optional<int64_t> top_k;
  if (Error e = f.Int("top_k", -1, kInt32Max, top_k)) return e;
  if (top_k) s.top_k = static_cast<int>(*top_k);
  if (Error e = f.Number("min_p", 0.0, 1.0, s.min_p)) return e;
  if (Error e = f.Number("presence_penalty", -2.0, 2.0, s.presence_penalty)) return e;
  if (Error e = f.Number("frequency_penalty", -2.0, 2.0, s.frequency_penalty)) return e;
  if (Error e = f.Number("repetition_penalty", 0.0, 10.0, s.repetition_penalty)) return e;
  if (s.repetition_penalty <= 0.0f) return ApiError::Invalid("'repetition_penalty' must be greater than 0", "repetition_penalty");
  if (const json* seed = f.Find("seed")) {
    if (!seed->is_number_integer()) return ApiError::Invalid("'seed' must be an integer", "seed");
    s.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : static_cast<uint64_t>(seed->get<int64_t>());
  }
  if (Error e = f.String("user", gen.user)) return e;
  return std::nullopt;
}

Error ParsePrompt(const json& v, CompletionRequest& req) {
  auto bad = [] { return ApiError::Invalid("'prompt' must be a string, a list of strings, a list of token ids or a list of lists of token ids", "prompt"); };
  if (v.is_string()) {
    req.prompts.push_back(Prompt{false, v.get<std::string>(), {}});
    return std::nullopt;
  }
  if (!v.is_array() || v.empty()) return bad();
  if (v.size() > kMaxPrompts) return ApiError::Invalid("'prompt' may hold at most " + std::to_string(kMaxPrompts) + " prompts", "prompt");
  if (v[0].is_number()) {
    Prompt p;
    p.is_tokens = true;
    if (Error e = TokenIds(v, "prompt", p.token_ids)) return e;
    req.prompts.push_back(std::move(p));
    return std::nullopt;
  }
  for (const json& item : v) {
    if (item.is_string()) {
      req.prompts.push_back(Prompt{false, item.get<std::string>(), {}});
    } else if (item.is_array()) {
      Prompt p;
      p.is_tokens = true;
      if (Error e = TokenIds(item, "prompt", p.token_ids)) return e;
      req.prompts.push_back(std::move(p));
    } else {
      return bad();
    }
  }
  return std::nullopt;
}

// A message's content as one string: a string, or text parts joined with "\n"; null stays null.
Error NormalizeContent(json& message, size_t index) {
  const std::string param = "messages[" + std::to_string(index) + "].content";
  auto it = message.find("content");
  if (it == message.end() || it->is_null() || it->is_string()) return std::nullopt;
  if (!it->is_array()) return ApiError::Invalid("'" + param + "' must be a string or a list of content parts", param);
  std::string text;
  bool first = true;
  for (const json& part : *it) {
    if (!part.is_object()) return ApiError::Invalid("'" + param + "' parts must be objects", param);
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) return ApiError::Invalid("'" + param + "' parts need a 'type'", param);
    if (*type != "text") {
      return ApiError::Invalid("content parts of type '" + type->get<std::string>() + "' are not supported: this model takes text only", param);
    }
    auto t = part.find("text");
    if (t == part.end() || !t->is_string()) return ApiError::Invalid("'" + param + "' text parts need a string 'text'", param);
    if (!first) text += "\n";
    text += t->get<std::string>();
    first = false;
  }
  *it = text;
  return std::nullopt;
}

// The largest nesting depth of arrays and objects in `text`, scanning past strings; stops counting
// once past `limit`. Runs before the parser so deep input never reaches recursive code.
int NestingDepth(std::string_view text, int limit) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') max_depth = std::max(max_depth, ++depth);
    else if (c == ']' || c == '}') --depth;
    if (max_depth > limit) break;
  }
  return max_depth;
}

}  // namespace

ApiResult<nlohmann::json> ParseJsonObject(std::string_view body) {
  if (NestingDepth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    return ApiError::Invalid("the request body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  json parsed = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return ApiError::Invalid("the request body is not valid JSON");
  if (!parsed.is_object()) return ApiError::Invalid("the request body must be a JSON object");
  return parsed;
}

ApiResult<CompletionRequest> ParseCompletionRequest(std::string_view body) {
  auto parsed = ParseJsonObject(body);
  if (!parsed.ok()) return parsed.error();
  const json& obj = *parsed;
  CompletionRequest req;
  if (Error e = ParseGeneration(obj, {"max_tokens"}, req.gen)) return *e;
  Fields f(obj);
  const json* prompt = f.Find("prompt");
  if (!prompt) return ApiError::Invalid("'prompt' is required", "prompt");
  if (Error e = ParsePrompt(*prompt, req)) return *e;
  if (const json* suffix = f.Find("suffix"); suffix && !(suffix->is_string() && suffix->get_ref<const std::string&>().empty())) {
    return ApiError::Invalid("'suffix' is not supported: this server does not do fill-in-the-middle", "suffix");
  }
  if (Error e = f.Bool("echo", req.echo)) return *e;
  std::optional<int64_t> logprobs;
  if (Error e = f.Int("logprobs", 0, kMaxTopLogprobs, logprobs)) return *e;
  if (logprobs) {
    req.gen.logprobs = true;
    req.gen.sampling.top_logprobs = static_cast<int>(*logprobs);
  }
  return req;
}

ApiResult<ChatRequest> ParseChatRequest(std::string_view body) {
  auto parsed = ParseJsonObject(body);
  if (!parsed.ok()) return parsed.error();
  json& obj = *parsed;
  ChatRequest req;
  if (Error e = ParseGeneration(obj, {"max_completion_tokens", "max_tokens"}, req.gen)) return *e;
  Fields f(obj);
  const json* messages = f.Find("messages");
  if (!messages) return ApiError::Invalid("'messages' is required", "messages");
  if (!messages->is_array() || messages->empty()) return ApiError::Invalid("'messages' must be a non-empty list", "messages");
  req.messages = *messages;
  for (size_t i = 0; i < req.messages.size(); ++i) {
    json& m = req.messages[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return ApiError::Invalid("'" + param + "' must be an object", param);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return ApiError::Invalid("'" + param + ".role' must be a string", param + ".role");
    if (Error e = NormalizeContent(m, i)) return *e;
  }
  if (Error e = f.Bool("logprobs", req.gen.logprobs)) return *e;
  std::optional<int64_t> top_logprobs;
  if (Error e = f.Int("top_logprobs", 0, kMaxTopLogprobs, top_logprobs)) return *e;
  if (top_logprobs) {
    if (!req.gen.logprobs) return ApiError::Invalid("'top_logprobs' needs 'logprobs' set to true", "top_logprobs");
    req.gen.sampling.top_logprobs = static_cast<int>(*top_logprobs);
  }
  if (Error e = f.Bool("add_generation_prompt", req.add_generation_prompt)) return *e;
  if (const json* kwargs = f.Find("chat_template_kwargs")) {
    if (!kwargs->is_object()) return ApiError::Invalid("'chat_template_kwargs' must be an object", "chat_template_kwargs");
    req.chat_template_kwargs = *kwargs;
  }
  return req;
}

}  // namespace mixserve::server
