#include "runtime/model/jinja_ops.h"

#include <cmath>

#include "runtime/model/jinja_methods.h"
#include "runtime/model/jinja_text.h"

namespace mixserve::model::jinja {
namespace {

[[noreturn]] void Unsupported(std::string_view op, const Value& a, const Value& b) {
  Fail("unsupported operand type(s) for " + std::string(op) + ": '" + a.TypeName() + "' and '" + b.TypeName() + "'");
}

bool IsIntLike(const Value& v) { return v.is_int() || v.is_bool(); }

// Python ints do not overflow; results beyond int64 are refused rather than wrapped.
void CheckOverflow(bool overflow) {
  if (overflow) Fail("integer result too large");
}

Value Repeat(const Value& seq, int64_t times) {
  constexpr size_t kMaxRepeated = size_t{1} << 28;  // Python would run out of memory instead
  size_t unit = seq.is_string() ? seq.str().size() : seq.items().size();
  if (times > 0 && unit > 0 && static_cast<size_t>(times) > kMaxRepeated / unit) Fail("repeated sequence too large");
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += seq.str();
    return Value(std::move(out));
  }
  std::vector<Value> items;
  for (int64_t i = 0; i < times; ++i) items.insert(items.end(), seq.items().begin(), seq.items().end());
  return Value::List(std::move(items), seq.is_tuple());
}

Value Multiply(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return Value(a.as_double() * b.as_double());
    int64_t r = 0;
    CheckOverflow(__builtin_mul_overflow(a.as_int(), b.as_int(), &r));
    return Value(r);
  }
  const Value& seq = (a.is_string() || a.is_list()) ? a : b;
  const Value& count = &seq == &a ? b : a;
  if (!(seq.is_string() || seq.is_list())) Unsupported("*", a, b);
  if (!IsIntLike(count)) Fail("can't multiply sequence by non-int of type '" + count.TypeName() + "'");
  return Repeat(seq, count.as_int());
}

Value Divide(std::string_view op, const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) Unsupported(op, a, b);
  bool ints = !a.is_float() && !b.is_float();
  if (op == "/") {
    if (b.as_double() == 0.0) Fail(ints ? "division by zero" : "float division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (ints) {
    int64_t x = a.as_int(), y = b.as_int();
    if (y == 0) Fail(op == "//" ? "integer division or modulo by zero" : "integer modulo by zero");
    int64_t q = x / y, r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) {
      --q;
      r += y;
    }
    return op == "//" ? Value(q) : Value(r);
  }
  double x = a.as_double(), y = b.as_double();
  if (y == 0.0) Fail(op == "//" ? "float floor division by zero" : "float modulo");
  double r = std::fmod(x, y);
  if (r != 0.0 && ((r < 0) != (y < 0))) r += y;
  return op == "//" ? Value(std::round((x - r) / y)) : Value(r);
}

Value Power(const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) Unsupported("** or pow()", a, b);
  if (a.is_float() || b.is_float() || b.as_int() < 0) return Value(std::pow(a.as_double(), b.as_double()));
  int64_t result = 1, base = a.as_int();
  for (int64_t e = b.as_int(); e > 0;) {  // by squaring; a square that overflows means the result does
    if (e & 1) CheckOverflow(__builtin_mul_overflow(result, base, &result));
    e >>= 1;
    if (e > 0) CheckOverflow(__builtin_mul_overflow(base, base, &base));
  }
  return Value(result);
}

// Python's slice index normalisation (PySlice_AdjustIndices).
int64_t SliceBound(const Value& v, int64_t fallback, int64_t length, bool negative_step) {
  if (v.is_none()) return fallback;
  int64_t i = v.as_int();
  if (i < 0) {
    i += length;
    if (i < 0) i = negative_step ? -1 : 0;
  } else if (i >= length) {
    i = negative_step ? length - 1 : length;
  }
  return i;
}

Value NoAttribute(const Value& obj, const std::string& name) {
  return Value::Undefined("'" + obj.ObjectTypeRepr() + "' has no attribute " + text::PyRepr(name));
}

Value NoElement(const Value& obj, const Value& key) {
  return Value::Undefined(obj.ObjectTypeRepr() + " has no element " + key.Repr());
}

// One %-conversion of Python's printf-style formatting applied to `v`.
std::string FormatOne(char conv, const std::string& flags, int width, int precision, const Value& v) {
  std::string body;
  if (conv == 's' || conv == 'r' || conv == 'a') {
    body = conv == 's' ? v.ToString() : v.Repr();
    if (precision >= 0) body = text::Encode(text::Decode(body).substr(0, static_cast<size_t>(precision)));
  } else if (conv == 'c') {
    if (v.is_string() && text::Length(v.str()) == 1) {
      body = v.str();
    } else if (IsIntLike(v)) {
      body = text::Encode(static_cast<char32_t>(v.as_int()));
    } else {
      Fail("%c requires int or char");
    }
  } else {
    bool integer = std::string_view("diouxX").find(conv) != std::string_view::npos;
    if (!v.is_number()) {
      bool decimal = conv == 'd' || conv == 'i' || conv == 'u';
      Fail(integer ? std::string("%") + conv + " format: a" + (decimal ? " real" : "n integer") +
                         " number is required, not " + v.TypeName()
                   : "must be real number, not " + v.TypeName());
    }
    if (integer && v.is_float() && conv != 'd' && conv != 'i' && conv != 'u') {
      Fail(std::string("%") + conv + " format: an integer is required, not float");
    }
    std::string spec = "%" + flags + (precision >= 0 ? "." + std::to_string(precision) : "");
    char buf[128];
    if (integer) {
      spec += std::string("ll") + (conv == 'u' || conv == 'i' ? 'd' : conv);
      long long x = v.is_float() ? static_cast<long long>(v.as_double()) : v.as_int();
      std::snprintf(buf, sizeof buf, spec.c_str(), x);
    } else {
      std::snprintf(buf, sizeof buf, (spec + conv).c_str(), v.as_double());
    }
    body = buf;
  }
  int pad = width - static_cast<int>(text::Length(body));
  if (pad <= 0) return body;
  bool left = flags.find('-') != std::string::npos;
  bool numeric = std::string_view("sarc").find(conv) == std::string_view::npos;
  bool zeros = !left && numeric && flags.find('0') != std::string::npos;
  if (zeros) {
    size_t sign = (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) ? 1 : 0;
    return body.substr(0, sign) + std::string(static_cast<size_t>(pad), '0') + body.substr(sign);
  }
  return left ? body + std::string(static_cast<size_t>(pad), ' ') : std::string(static_cast<size_t>(pad), ' ') + body;
}

}  // namespace

std::string PercentFormat(const std::string& format, const Value& args) {
  // A tuple supplies the arguments in order; anything else is the one argument. Like Python,
  // leftover arguments are an error unless the argument is subscriptable (dict, list, undefined).
  std::vector<Value> positional = args.is_tuple() ? args.items() : std::vector<Value>{args};
  bool mapping_like = (args.is_list() && !args.is_tuple()) || args.is_dict() || args.is_undefined();
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    ++i;
    const Value* value = nullptr;
    Value keyed;
    if (i < format.size() && format[i] == '(') {
      size_t close = format.find(')', i);
      if (close == std::string::npos) Fail("incomplete format key");
      if (!args.is_dict()) Fail("format requires a mapping");
      const Value* found = args.dict().Find(format.substr(i + 1, close - i - 1));
      if (!found) Fail("'" + format.substr(i + 1, close - i - 1) + "'");
      keyed = *found;
      value = &keyed;
      i = close + 1;
    }
    std::string flags;
    while (i < format.size() && std::string_view("-+ #0").find(format[i]) != std::string_view::npos) {
      flags += format[i++];
    }
    int width = 0, precision = -1;
    while (i < format.size() && format[i] >= '0' && format[i] <= '9') width = width * 10 + (format[i++] - '0');
    if (i < format.size() && format[i] == '.') {
      precision = 0;
      for (++i; i < format.size() && format[i] >= '0' && format[i] <= '9';) {
        precision = precision * 10 + (format[i++] - '0');
      }
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) Fail("incomplete format");
    char conv = format[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (std::string_view("sracdiouxXeEfFgG").find(conv) == std::string_view::npos) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "unsupported format character '%c' (0x%x) at index %zu", conv,
                    static_cast<unsigned>(static_cast<unsigned char>(conv)), i);
      Fail(buf);
    }
    if (!value) {
      if (next >= positional.size()) Fail("not enough arguments for format string");
      value = &positional[next++];
    }
    out += FormatOne(conv, flags, width, precision, *value);
  }
  if (next < positional.size() && !mapping_like) {
    Fail("not all arguments converted during string formatting");
  }
  return out;
}

Value Arithmetic(std::string_view op, const Value& a, const Value& b) {
  a.Defined();
  if (op == "%" && a.is_string()) return Value(PercentFormat(a.str(), b));
  b.Defined();
  if (op == "+") {
    if (a.is_number() && b.is_number()) {
      if (a.is_float() || b.is_float()) return Value(a.as_double() + b.as_double());
      int64_t r = 0;
      CheckOverflow(__builtin_add_overflow(a.as_int(), b.as_int(), &r));
      return Value(r);
    }
    if (a.is_string() && b.is_string()) return Value(a.str() + b.str());
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
      std::vector<Value> items = a.items();
      items.insert(items.end(), b.items().begin(), b.items().end());
      return Value::List(std::move(items), a.is_tuple());
    }
    if (a.is_string() || a.is_list()) {
      Fail("can only concatenate " + a.TypeName() + " (not \"" + b.TypeName() + "\") to " + a.TypeName());
    }
    Unsupported(op, a, b);
  }
  if (op == "-") {
    if (!a.is_number() || !b.is_number()) Unsupported(op, a, b);
    if (a.is_float() || b.is_float()) return Value(a.as_double() - b.as_double());
    int64_t r = 0;
    CheckOverflow(__builtin_sub_overflow(a.as_int(), b.as_int(), &r));
    return Value(r);
  }
  if (op == "*") return Multiply(a, b);
  if (op == "**") return Power(a, b);
  return Divide(op, a, b);
}

Value Negate(const Value& v) {
  v.Defined();
  if (v.is_float()) return Value(-v.as_double());
  if (IsIntLike(v)) return Value(-v.as_int());
  Fail("bad operand type for unary -: '" + v.TypeName() + "'");
}

Value UnaryPlus(const Value& v) {
  v.Defined();
  if (v.is_float()) return v;
  if (IsIntLike(v)) return Value(v.as_int());
  Fail("bad operand type for unary +: '" + v.TypeName() + "'");
}

bool Contains(const Value& container, const Value& item) {
  if (container.is_undefined()) return false;
  if (container.is_string()) {
    if (!item.is_string()) Fail("'in <string>' requires string as left operand, not " + item.TypeName());
    return container.str().find(item.str()) != std::string::npos;
  }
  if (container.is_list()) {
    for (const Value& v : container.items())
      if (Equals(v, item)) return true;
    return false;
  }
  if (container.is_dict()) {
    if (item.is_list() && !item.is_tuple()) Fail("unhashable type: 'list'");
    if (item.is_dict()) Fail("unhashable type: 'dict'");
    return item.is_string() && container.dict().Find(item.str()) != nullptr;
  }
  Fail("argument of type '" + container.TypeName() + "' is not iterable");
}

std::vector<Value> Iterate(const Value& v) {
  if (v.is_undefined()) return {};
  if (v.is_list()) return v.items();
  std::vector<Value> out;
  if (v.is_dict()) {
    for (const auto& [k, unused] : v.dict().entries()) out.emplace_back(k);
  } else if (v.is_string()) {
    for (char32_t c : text::Decode(v.str())) out.emplace_back(text::Encode(c));
  } else {
    Fail("'" + v.TypeName() + "' object is not iterable");
  }
  return out;
}

int64_t Length(const Value& v) {
  if (v.is_undefined()) return 0;
  if (v.is_string()) return static_cast<int64_t>(text::Length(v.str()));
  if (v.is_list()) return static_cast<int64_t>(v.items().size());
  if (v.is_dict()) return static_cast<int64_t>(v.dict().size());
  Fail("object of type '" + v.TypeName() + "' has no len()");
}

Value GetAttr(const Value& obj, const std::string& name) {
  obj.Defined();
  if (std::optional<Value> method = BoundMethod(obj, name)) return *method;
  if (obj.is_dict()) {
    const Value* v = obj.dict().Find(name);
    return v ? *v : NoAttribute(obj, name);
  }
  if (obj.is_object()) {
    const Value* v = obj.object().attrs.Find(name);
    return v ? *v : NoAttribute(obj, name);
  }
  return NoAttribute(obj, name);
}

Value GetItem(const Value& obj, const Value& key) {
  obj.Defined();
  if (obj.is_dict() && key.is_string()) {
    if (const Value* v = obj.dict().Find(key.str())) return *v;
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t n = Length(obj), i = key.as_int();
    if (i < 0) i += n;
    if (i < 0 || i >= n) return NoElement(obj, key);
    if (obj.is_list()) return obj.items()[static_cast<size_t>(i)];
    return Value(text::Encode(text::Decode(obj.str())[static_cast<size_t>(i)]));
  }
  if (key.is_string()) {
    if (std::optional<Value> method = BoundMethod(obj, key.str())) return *method;
    if (obj.is_object()) {
      if (const Value* v = obj.object().attrs.Find(key.str())) return *v;
    }
    return NoAttribute(obj, key.str());
  }
  return NoElement(obj, key);
}

Value Slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  // jinja2 compiles a slice to a plain Python subscript, not the sandbox's getitem: failures raise.
  obj.Defined();
  if (obj.is_dict()) Fail("unhashable type: 'slice'");
  if (!obj.is_list() && !obj.is_string()) Fail("'" + obj.TypeName() + "' object is not subscriptable");
  for (const Value* bound : {&start, &stop, &step}) {
    if (!bound->is_none() && !bound->is_int() && !bound->is_bool()) {
      Fail("slice indices must be integers or None or have an __index__ method");
    }
  }
  int64_t stride = step.is_none() ? 1 : step.as_int();
  if (stride == 0) Fail("slice step cannot be zero");
  std::u32string chars;
  if (obj.is_string()) chars = text::Decode(obj.str());
  int64_t n = obj.is_string() ? static_cast<int64_t>(chars.size()) : static_cast<int64_t>(obj.items().size());
  bool negative = stride < 0;
  int64_t first = SliceBound(start, negative ? n - 1 : 0, n, negative);
  int64_t last = SliceBound(stop, negative ? -1 : n, n, negative);
  std::vector<size_t> picked;
  for (int64_t i = first; negative ? i > last : i < last; i += stride) picked.push_back(static_cast<size_t>(i));
  if (obj.is_string()) {
    std::u32string out;
    for (size_t i : picked) out += chars[i];
    return Value(text::Encode(out));
  }
  std::vector<Value> items;
  for (size_t i : picked) items.push_back(obj.items()[i]);
  return Value::List(std::move(items), obj.is_tuple());
}

Value Call(const Value& callee, const CallArgs& args) {
  callee.Defined();
  if (!callee.is_callable()) Fail("'" + callee.TypeName() + "' object is not callable");
  return callee.callable().fn(args);
}

Params::Params(std::string_view function, const CallArgs& args, std::initializer_list<const char*> names)
    : function_(function), values_(names.size()), given_(names.size(), false), names_(names) {
  if (args.positional.size() > names_.size()) {
    Fail(function_ + "() takes at most " + std::to_string(names_.size()) + " argument(s) (" +
         std::to_string(args.positional.size()) + " given)");
  }
  for (size_t i = 0; i < args.positional.size(); ++i) {
    values_[i] = args.positional[i];
    given_[i] = true;
  }
  for (const auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < names_.size() && key != names_[i]) ++i;
    if (i == names_.size()) Fail(function_ + "() got an unexpected keyword argument '" + key + "'");
    if (given_[i]) Fail(function_ + "() got multiple values for argument '" + key + "'");
    values_[i] = value;
    given_[i] = true;
  }
}

int64_t Params::GetInt(size_t i, int64_t fallback) const {
  if (!given_[i] || values_[i].is_none()) return fallback;
  if (!IsIntLike(values_[i])) {
    Fail(function_ + "(): '" + names_[i] + "' must be an integer, not " + values_[i].TypeName());
  }
  return values_[i].as_int();
}

std::string Params::GetString(size_t i, std::string fallback) const {
  if (!given_[i] || values_[i].is_none()) return fallback;
  if (!values_[i].is_string()) {
    Fail("must be str, not " + values_[i].TypeName());
  }
  return values_[i].str();
}

}  // namespace mixserve::model::jinja
