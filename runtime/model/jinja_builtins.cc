#include "runtime/model/jinja_builtins.h"

#include <ctime>
#include <map>
#include <memory>

#include "runtime/model/jinja_ops.h"
#include "runtime/model/jinja_text.h"

namespace mixserve::model::jinja {
namespace {

using Test = bool (*)(const Value& v, const Params& p, const std::string& name);

bool TKind(const Value& v, const Params&, const std::string& name) {
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "callable") return v.is_callable() || v.is_undefined();
  if (name == "escaped") return false;
  // iterable / sequence: what Python can iterate, or take len() and subscript of.
  bool container = v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "iterable") return container || (v.is_object() && v.object().kind == ObjectData::Kind::kLoop);
  return container;
}

bool TParity(const Value& v, const Params& p, const std::string& name) {
  if (name == "divisibleby") return Equals(Arithmetic("%", v, p[0]), Value(int64_t{0}));
  Value r = Arithmetic("%", v, Value(int64_t{2}));
  return Equals(r, Value(int64_t{name == "odd" ? 1 : 0}));
}

bool TCase(const Value& v, const Params&, const std::string& name) {
  std::string s = v.ToString();
  bool has_cased = false;
  for (char32_t c : text::Decode(s)) {
    if (text::ToUpper(c) == text::ToLower(c)) continue;
    has_cased = true;
    if ((name == "lower" ? text::ToLower(c) : text::ToUpper(c)) != c) return false;
  }
  return has_cased;
}

bool TCompare(const Value& v, const Params& p, const std::string& name) {
  const Value& other = p[0];
  if (name == "sameas") {
    if (v.identity() || other.identity()) return v.identity() == other.identity();
    return v.is_none() ? other.is_none() : (v.is_bool() && other.is_bool() && v.as_bool() == other.as_bool());
  }
  if (name == "in") return Contains(other, v);
  if (name == "eq" || name == "equalto" || name == "==") return Equals(v, other);
  if (name == "ne" || name == "!=") return !Equals(v, other);
  if (name == "lt" || name == "lessthan" || name == "<") return OrderCompare("<", v, other);
  if (name == "le" || name == "<=") return OrderCompare("<=", v, other);
  if (name == "gt" || name == "greaterthan" || name == ">") return OrderCompare(">", v, other);
  return OrderCompare(">=", v, other);
}

struct TestEntry {
  Test fn;
  int arity;  // 0 or 1 argument after the value
};

const std::map<std::string, TestEntry>& Tests() {
  static const std::map<std::string, TestEntry> tests = {
      {"defined", {TKind, 0}},   {"undefined", {TKind, 0}},   {"none", {TKind, 0}},      {"boolean", {TKind, 0}},
      {"true", {TKind, 0}},      {"false", {TKind, 0}},       {"integer", {TKind, 0}},   {"float", {TKind, 0}},
      {"number", {TKind, 0}},    {"string", {TKind, 0}},      {"mapping", {TKind, 0}},   {"callable", {TKind, 0}},
      {"escaped", {TKind, 0}},   {"iterable", {TKind, 0}},    {"sequence", {TKind, 0}},  {"odd", {TParity, 0}},
      {"even", {TParity, 0}},    {"divisibleby", {TParity, 1}}, {"lower", {TCase, 0}},   {"upper", {TCase, 0}},
      {"sameas", {TCompare, 1}}, {"in", {TCompare, 1}},       {"eq", {TCompare, 1}},     {"equalto", {TCompare, 1}},
      {"==", {TCompare, 1}},     {"ne", {TCompare, 1}},       {"!=", {TCompare, 1}},     {"lt", {TCompare, 1}},
      {"lessthan", {TCompare, 1}}, {"<", {TCompare, 1}},      {"le", {TCompare, 1}},     {"<=", {TCompare, 1}},
      {"gt", {TCompare, 1}},     {"greaterthan", {TCompare, 1}}, {">", {TCompare, 1}},   {"ge", {TCompare, 1}},
      {">=", {TCompare, 1}},
  };
  return tests;
}

Value Range(const CallArgs& args) {
  Params p("range", args, {"start", "stop", "step"});
  if (!p.Has(0)) Fail("range expected at least 1 argument, got 0");
  int64_t start = p.Has(1) ? p.GetInt(0, 0) : 0;
  int64_t stop = p.Has(1) ? p.GetInt(1, 0) : p.GetInt(0, 0);
  int64_t step = p.GetInt(2, 1);
  if (step == 0) Fail("range() arg 3 must not be zero");
  int64_t count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                           : (start > stop ? (start - stop - step - 1) / -step : 0);
  if (count > 100000) Fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  std::vector<Value> items;
  for (int64_t i = 0; i < count; ++i) items.emplace_back(start + i * step);
  return Value::List(std::move(items));
}

// dict(mapping_or_pairs, **kwargs), as Python's dict() and jinja2's namespace() take it.
DictData DictFrom(const char* function, const CallArgs& args) {
  if (args.positional.size() > 1) Fail(std::string(function) + "() expected at most 1 positional argument");
  DictData dict;
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      dict = source.dict();
    } else {
      for (const Value& pair : Iterate(source)) {
        if (!pair.is_list() || pair.items().size() != 2 || !pair.items()[0].is_string()) {
          Fail(std::string(function) + "(): expected a mapping or (key, value) pairs with string keys");
        }
        dict.Set(pair.items()[0].str(), pair.items()[1]);
      }
    }
  }
  for (const auto& [k, v] : args.keyword) dict.Set(k, v);
  return dict;
}

Value StrftimeNow(const CallArgs& args) {
  Params p("strftime_now", args, {"format"});
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[512];
  size_t n = std::strftime(buf, sizeof buf, p.GetString(0, "").c_str(), &local);
  return Value(std::string(buf, n));
}

}  // namespace

bool HasTest(const std::string& name) { return Tests().count(name) > 0; }

bool ApplyTest(const std::string& name, const Value& input, const CallArgs& args) {
  auto it = Tests().find(name);
  if (it == Tests().end()) Fail("No test named '" + name + "'.");
  Params p(name, args, it->second.arity == 1 ? std::initializer_list<const char*>{"other"}
                                              : std::initializer_list<const char*>{});
  if (it->second.arity == 1 && !p.Has(0)) Fail(name + "() missing 1 required positional argument");
  return it->second.fn(input, p, name);
}

DictData Globals() {
  DictData globals;
  globals.Set("range", Value::Callable("range", Range));
  globals.Set("dict",
              Value::Callable("dict", [](const CallArgs& args) { return Value::Dict(DictFrom("dict", args)); }));
  globals.Set("namespace", Value::Callable("namespace", [](const CallArgs& args) {
                auto ns = std::make_shared<ObjectData>();
                ns->kind = ObjectData::Kind::kNamespace;
                ns->attrs = DictFrom("namespace", args);
                return Value::Object(std::move(ns));
              }));
  globals.Set("raise_exception", Value::Callable("raise_exception", [](const CallArgs& args) -> Value {
                Params p("raise_exception", args, {"message"});
                Fail(p[0].ToString());
              }));
  globals.Set("strftime_now", Value::Callable("strftime_now", StrftimeNow));
  return globals;
}

}  // namespace mixserve::model::jinja
