#include "runtime/model/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "runtime/model/jinja_text.h"

namespace mixserve::model::jinja {

void Fail(std::string message) { throw Error{std::move(message)}; }

const Value* DictData::Find(std::string_view key) const {
  for (const auto& [k, v] : entries_)
    if (k == key) return &v;
  return nullptr;
}

void DictData::Set(std::string key, Value value) {
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

Value Value::List(std::vector<Value> items, bool is_tuple) {
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  data->is_tuple = is_tuple;
  return Value(Variant(std::shared_ptr<const ListData>(std::move(data))));
}

Value Value::Dict(DictData dict) {
  return Value(Variant(std::shared_ptr<const DictData>(std::make_shared<DictData>(std::move(dict)))));
}

Value Value::Callable(std::string name, std::function<Value(const CallArgs&)> fn, bool is_macro) {
  auto data = std::make_shared<CallableData>();
  data->name = std::move(name);
  data->fn = std::move(fn);
  data->is_macro = is_macro;
  return Value(Variant(std::shared_ptr<const CallableData>(std::move(data))));
}

Value Value::FromJson(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::object: {
      DictData dict;
      for (const auto& [k, v] : json.items()) dict.Set(k, FromJson(v));
      return Dict(std::move(dict));
    }
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& v : json) items.push_back(FromJson(v));
      return List(std::move(items));
    }
    case nlohmann::ordered_json::value_t::string: return Value(json.get<std::string>());
    case nlohmann::ordered_json::value_t::boolean: return Value(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      uint64_t u = json.get<uint64_t>();
      return u <= static_cast<uint64_t>(INT64_MAX) ? Value(static_cast<int64_t>(u)) : Value(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value(json.get<double>());
    default: return None();
  }
}

const void* Value::identity() const {
  if (is_list()) return std::get<std::shared_ptr<const ListData>>(v_).get();
  if (is_dict()) return std::get<std::shared_ptr<const DictData>>(v_).get();
  if (is_object()) return std::get<std::shared_ptr<ObjectData>>(v_).get();
  if (is_callable()) return std::get<std::shared_ptr<const CallableData>>(v_).get();
  return nullptr;
}

const Value& Value::Defined() const {
  if (is_undefined()) Fail(undefined_message());
  return *this;
}

bool Value::Truthy() const {
  if (is_undefined() || is_none()) return false;
  if (is_bool()) return as_bool();
  if (is_int()) return as_int() != 0;
  if (is_float()) return as_double() != 0.0;
  if (is_string()) return !str().empty();
  if (is_list()) return !items().empty();
  if (is_dict()) return dict().size() > 0;
  return true;
}

std::string Value::ToString() const {
  if (is_undefined()) return "";
  if (is_string()) return str();
  return Repr();
}

namespace {

constexpr int kMaxReprDepth = 500;  // only a namespace holding itself nests this deep

std::string ReprAt(const Value& v, int depth) {
  if (depth > kMaxReprDepth) Fail("maximum recursion depth exceeded while getting the repr of an object");
  if (v.is_undefined()) return "Undefined";
  if (v.is_none()) return "None";
  if (v.is_bool()) return v.as_bool() ? "True" : "False";
  if (v.is_int()) return std::to_string(v.as_int());
  if (v.is_float()) return FormatFloat(v.as_double());
  if (v.is_string()) return text::PyRepr(v.str());
  if (v.is_list()) {
    std::string out = v.is_tuple() ? "(" : "[";
    for (size_t i = 0; i < v.items().size(); ++i) out += (i ? ", " : "") + ReprAt(v.items()[i], depth + 1);
    if (v.is_tuple() && v.items().size() == 1) out += ",";
    return out + (v.is_tuple() ? ")" : "]");
  }
  if (v.is_dict() || v.is_namespace()) {
    const DictData& dict = v.is_dict() ? v.dict() : v.object().attrs;
    std::string out = "{";
    bool first = true;
    for (const auto& [k, item] : dict.entries()) {
      out += (first ? "" : ", ") + text::PyRepr(k) + ": " + ReprAt(item, depth + 1);
      first = false;
    }
    return v.is_dict() ? out + "}" : "<Namespace " + out + "}>";
  }
  if (v.is_object()) {
    const DictData& loop = v.object().attrs;
    return "<LoopContext " + loop.Find("index")->Repr() + "/" + loop.Find("length")->Repr() + ">";
  }
  return v.callable().is_macro ? "<Macro " + text::PyRepr(v.callable().name) + ">"
                               : "<built-in method " + v.callable().name + ">";
}

}  // namespace

std::string Value::Repr() const { return ReprAt(*this, 0); }

std::string Value::TypeName() const {
  if (is_undefined()) return "Undefined";
  if (is_none()) return "NoneType";
  if (is_bool()) return "bool";
  if (is_int()) return "int";
  if (is_float()) return "float";
  if (is_string()) return "str";
  if (is_list()) return is_tuple() ? "tuple" : "list";
  if (is_dict()) return "dict";
  if (is_object()) return object().kind == ObjectData::Kind::kNamespace ? "Namespace" : "LoopContext";
  return callable().is_macro ? "Macro" : "builtin_function_or_method";
}

std::string Value::ObjectTypeRepr() const {
  if (is_none()) return "None";
  if (is_undefined()) return "jinja2.runtime.Undefined object";
  if (is_object()) {
    return object().kind == ObjectData::Kind::kNamespace ? "jinja2.utils.Namespace object"
                                                         : "jinja2.runtime.LoopContext object";
  }
  if (is_callable() && callable().is_macro) return "jinja2.runtime.Macro object";
  return TypeName() + " object";
}

bool Equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.is_undefined() || b.is_undefined()) return a.is_undefined() && b.is_undefined();
  if (a.is_none() || b.is_none()) return a.is_none() && b.is_none();
  if (a.is_string() && b.is_string()) return a.str() == b.str();
  if (a.is_list() && b.is_list()) {
    if (a.is_tuple() != b.is_tuple() || a.items().size() != b.items().size()) return false;
    for (size_t i = 0; i < a.items().size(); ++i)
      if (!Equals(a.items()[i], b.items()[i])) return false;
    return true;
  }
  if (a.is_dict() && b.is_dict()) {
    if (a.dict().size() != b.dict().size()) return false;
    for (const auto& [k, v] : a.dict().entries()) {
      const Value* other = b.dict().Find(k);
      if (!other || !Equals(v, *other)) return false;
    }
    return true;
  }
  return a.identity() != nullptr && a.identity() == b.identity();
}

namespace {

// -1, 0 or 1 for a orderable against b; the TypeError names the innermost pair that is not.
int Order(std::string_view op, const Value& a, const Value& b) {
  a.Defined();
  b.Defined();
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() < b.as_double() ? -1 : a.as_double() > b.as_double();
    return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int();
  }
  // UTF-8 byte order is code point order, which is how Python orders str.
  if (a.is_string() && b.is_string()) return a.str().compare(b.str()) < 0 ? -1 : a.str() != b.str();
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!Equals(x[i], y[i])) return Order(op, x[i], y[i]);
    return x.size() < y.size() ? -1 : x.size() > y.size();
  }
  Fail("'" + std::string(op) + "' not supported between instances of '" + a.TypeName() + "' and '" + b.TypeName() +
       "'");
}

}  // namespace

bool OrderCompare(std::string_view op, const Value& a, const Value& b) {
  int order = Order(op, a, b);
  if (op == "<") return order < 0;
  if (op == "<=") return order <= 0;
  if (op == ">") return order > 0;
  return order >= 0;
}

std::string FormatFloat(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // shortest round-trip digits: "-1.2345e+02"
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int exponent = std::stoi(sci.substr(e + 1));
  if (exponent < -4 || exponent >= 16) {
    std::string mantissa = digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "");
    std::string exp_digits = std::to_string(std::abs(exponent));
    if (exp_digits.size() < 2) exp_digits = "0" + exp_digits;
    return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + exp_digits;
  }
  int point = exponent + 1;  // digits before the decimal point
  if (point <= 0) return sign + "0." + std::string(-point, '0') + digits;
  if (point >= static_cast<int>(digits.size())) return sign + digits + std::string(point - digits.size(), '0') + ".0";
  return sign + digits.substr(0, point) + "." + digits.substr(point);
}

namespace {

void WriteJson(const Value& v, const JsonOptions& opt, int depth, std::string& out) {
  const std::string item_sep = opt.separators ? opt.separators->first : (opt.indent ? "," : ", ");
  const std::string key_sep = opt.separators ? opt.separators->second : ": ";
  auto newline = [&](int level) {
    if (!opt.indent) return;
    out += '\n';
    for (int i = 0; i < level; ++i) out += *opt.indent;
  };
  if (v.is_none()) {
    out += "null";
  } else if (v.is_bool()) {
    out += v.as_bool() ? "true" : "false";
  } else if (v.is_int()) {
    out += std::to_string(v.as_int());
  } else if (v.is_float()) {
    double d = v.as_double();
    out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : FormatFloat(d);
  } else if (v.is_string()) {
    out += text::JsonQuote(v.str(), opt.ensure_ascii);
  } else if (v.is_list()) {
    if (v.items().empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t i = 0; i < v.items().size(); ++i) {
      if (i) out += item_sep;
      newline(depth + 1);
      WriteJson(v.items()[i], opt, depth + 1, out);
    }
    newline(depth);
    out += ']';
  } else if (v.is_dict()) {
    if (v.dict().size() == 0) {
      out += "{}";
      return;
    }
    std::vector<const std::pair<std::string, Value>*> entries;
    for (const auto& e : v.dict().entries()) entries.push_back(&e);
    if (opt.sort_keys)
      std::stable_sort(entries.begin(), entries.end(), [](auto* x, auto* y) { return x->first < y->first; });
    out += '{';
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i) out += item_sep;
      newline(depth + 1);
      out += text::JsonQuote(entries[i]->first, opt.ensure_ascii) + key_sep;
      WriteJson(entries[i]->second, opt, depth + 1, out);
    }
    newline(depth);
    out += '}';
  } else {
    Fail("Object of type " + v.TypeName() + " is not JSON serializable");
  }
}

}  // namespace

std::string ToJson(const Value& value, const JsonOptions& options) {
  std::string out;
  WriteJson(value, options, 0, out);
  return out;
}

}  // namespace mixserve::model::jinja
