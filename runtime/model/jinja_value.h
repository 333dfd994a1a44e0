// jinja::Value: the data a chat template computes with, with Python's semantics as jinja2 gives
// them (Hugging Face renders chat templates with jinja2, so that is the behaviour to match).
//
// A Value is one of: undefined (carries the message to report when it is used), none, bool, int,
// float, str (UTF-8), list or tuple, dict (string keys in insertion order), object (a namespace()
// or a for loop's `loop`), or callable (a global, a bound method such as `text.strip`, a macro).
// Lists and dicts are shared and never change once built; a namespace is shared and mutable,
// which is what lets `{% set ns.x = ... %}` escape a loop body.
//
// Errors while rendering are thrown as jinja::Error inside the interpreter and turned into a
// Status at its boundary (Template::Render); they never leave the jinja_* files.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace mixserve::model::jinja {

class Value;

// A render-time failure; `what` is the message jinja2 would give (for raise_exception, the
// template's own text).
struct Error {
  std::string what;
};
[[noreturn]] void Fail(std::string message);

struct UndefinedInfo {
  std::string message;  // what using this value reports, e.g. "'dict object' has no attribute 'x'"
};

// A Python list, or a tuple (they print differently and never compare equal).
struct ListData {
  std::vector<Value> items;
  bool is_tuple = false;
};

// A dict: string keys, kept in insertion order like a Python dict.
class DictData {
 public:
  const Value* Find(std::string_view key) const;
  void Set(std::string key, Value value);  // replaces an existing key in place
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<std::string, Value>> entries_;
};

// namespace() objects and a for loop's `loop`: attribute bags with a Python type name.
struct ObjectData {
  enum class Kind { kNamespace, kLoop };
  Kind kind = Kind::kNamespace;
  DictData attrs;
};

// Arguments of a call: positional, then keyword in the order written.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// Something a template can call: a global such as range(), a bound method, a macro.
struct CallableData {
  std::string name;  // for messages and str(): "strip", "raise_exception", a macro's name
  bool is_macro = false;
  std::function<Value(const CallArgs&)> fn;
};

class Value {
 public:
  Value() : v_(UndefinedInfo{}) {}
  static Value Undefined(std::string message) { return Value(Variant(UndefinedInfo{std::move(message)})); }
  static Value None() { return Value(Variant(std::monostate{})); }
  Value(bool b) : v_(b) {}
  Value(int64_t i) : v_(i) {}
  Value(int i) : v_(static_cast<int64_t>(i)) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  static Value List(std::vector<Value> items, bool is_tuple = false);
  static Value Dict(DictData dict);
  static Value Object(std::shared_ptr<ObjectData> object) { return Value(Variant(std::move(object))); }
  static Value Callable(std::string name, std::function<Value(const CallArgs&)> fn, bool is_macro = false);
  // JSON objects, arrays, strings, numbers, booleans and null map to dict, list, str, int or
  // float, bool and none.
  static Value FromJson(const nlohmann::ordered_json& json);

  bool is_undefined() const { return std::holds_alternative<UndefinedInfo>(v_); }
  bool is_none() const { return std::holds_alternative<std::monostate>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_number() const { return is_bool() || is_int() || is_float(); }  // bool is an int in Python
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_list() const { return std::holds_alternative<std::shared_ptr<const ListData>>(v_); }
  bool is_tuple() const { return is_list() && list().is_tuple; }
  bool is_dict() const { return std::holds_alternative<std::shared_ptr<const DictData>>(v_); }
  bool is_object() const { return std::holds_alternative<std::shared_ptr<ObjectData>>(v_); }
  bool is_namespace() const { return is_object() && object().kind == ObjectData::Kind::kNamespace; }
  bool is_callable() const { return std::holds_alternative<std::shared_ptr<const CallableData>>(v_); }

  // REQUIRES: the matching is_*() holds.
  const std::string& undefined_message() const { return std::get<UndefinedInfo>(v_).message; }
  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return is_bool() ? (as_bool() ? 1 : 0) : std::get<int64_t>(v_); }  // bool or int
  double as_double() const { return is_float() ? std::get<double>(v_) : static_cast<double>(as_int()); }
  const std::string& str() const { return std::get<std::string>(v_); }
  const ListData& list() const { return *std::get<std::shared_ptr<const ListData>>(v_); }
  const std::vector<Value>& items() const { return list().items; }
  const DictData& dict() const { return *std::get<std::shared_ptr<const DictData>>(v_); }
  ObjectData& object() const { return *std::get<std::shared_ptr<ObjectData>>(v_); }
  const CallableData& callable() const { return *std::get<std::shared_ptr<const CallableData>>(v_); }
  // Identity of a shared list, dict, object or callable (Python's `is`); null for other kinds.
  const void* identity() const;

  // Throws the undefined's message when this is undefined: jinja2's Undefined refuses to be
  // used in arithmetic, comparisons, attribute access and calls.
  const Value& Defined() const;

  bool Truthy() const;
  // Python's str(): what `{{ value }}` prints. Undefined prints as "".
  std::string ToString() const;
  // Python's repr(): how a value prints inside a list or dict.
  std::string Repr() const;
  // Python's type(value).__name__: "str", "dict", "NoneType", ...
  std::string TypeName() const;
  // jinja2's object_type_repr, used in "'dict object' has no attribute 'x'".
  std::string ObjectTypeRepr() const;

 private:
  using Variant = std::variant<UndefinedInfo, std::monostate, bool, int64_t, double, std::string,
                               std::shared_ptr<const ListData>, std::shared_ptr<const DictData>,
                               std::shared_ptr<ObjectData>, std::shared_ptr<const CallableData>>;
  explicit Value(Variant v) : v_(std::move(v)) {}
  Variant v_;
};

// Python's `a == b` (1 == 1.0 == True; a list never equals a tuple; dicts compare by content).
bool Equals(const Value& a, const Value& b);
// Python's ordering `a op b` for op in "<", "<=", ">", ">=": numbers, strings, lists and tuples;
// other kinds raise the TypeError Python would.
bool OrderCompare(std::string_view op, const Value& a, const Value& b);

// Python's float repr: the shortest text that reads back to the same double ("1.0", "1e-05").
std::string FormatFloat(double d);

// json.dumps(value, ensure_ascii=..., indent=..., separators=..., sort_keys=...), as Hugging Face's
// tojson filter calls it. `indent` is nullopt for one line, else the text of one indent level.
struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;
  std::optional<std::pair<std::string, std::string>> separators;
  bool sort_keys = false;
};
std::string ToJson(const Value& value, const JsonOptions& options);

}  // namespace mixserve::model::jinja
