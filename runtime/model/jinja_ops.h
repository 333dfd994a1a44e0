// Python's operators and protocols over jinja::Value, as jinja2 templates see them: arithmetic,
// `in`, iteration, len(), subscripts and slices, attribute access through Hugging Face's
// immutable sandbox, calls, and binding call arguments to a builtin's parameters.
//
// Failures throw jinja::Error carrying the message Python would give, so a template that breaks
// on some input reports the same error here as under jinja2.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/model/jinja_value.h"

namespace mixserve::model::jinja {

// `a op b` for op in + - * / // % **; `str % args` formats printf-style.
Value Arithmetic(std::string_view op, const Value& a, const Value& b);
// Python's `format % args`: a tuple gives the arguments in order, a dict serves %(name)s.
std::string PercentFormat(const std::string& format, const Value& args);
Value Negate(const Value& v);    // -v
Value UnaryPlus(const Value& v); // +v
bool Contains(const Value& container, const Value& item);  // `item in container`
std::vector<Value> Iterate(const Value& v);                // what `for x in v` visits
int64_t Length(const Value& v);                             // len(v)

// obj.name and obj[key], as the immutable sandbox resolves them: a missing attribute or key is
// an undefined that fails when used; methods that would modify a list or dict are refused.
Value GetAttr(const Value& obj, const std::string& name);
Value GetItem(const Value& obj, const Value& key);
// obj[start:stop:step]; a none bound means "omitted".
Value Slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
Value Call(const Value& callee, const CallArgs& args);

// The arguments of a builtin bound to its parameter names, as Python binds them.
class Params {
 public:
  Params(std::string_view function, const CallArgs& args, std::initializer_list<const char*> names);
  bool Has(size_t i) const { return given_[i]; }
  const Value& operator[](size_t i) const { return values_[i]; }
  // The argument, or `fallback` when it was not given.
  Value Get(size_t i, Value fallback) const { return given_[i] ? values_[i] : std::move(fallback); }
  int64_t GetInt(size_t i, int64_t fallback) const;
  bool GetBool(size_t i, bool fallback) const { return given_[i] ? values_[i].Truthy() : fallback; }
  std::string GetString(size_t i, std::string fallback) const;

 private:
  std::string function_;
  std::vector<Value> values_;
  std::vector<bool> given_;
  std::vector<const char*> names_;
};

}  // namespace mixserve::model::jinja
