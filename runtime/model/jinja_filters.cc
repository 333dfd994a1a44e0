#include "runtime/model/jinja_filters.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>

#include "runtime/model/jinja_builtins.h"
#include "runtime/model/jinja_methods.h"
#include "runtime/model/jinja_ops.h"
#include "runtime/model/jinja_text.h"

namespace mixserve::model::jinja {
namespace {

using Filter = Value (*)(const Value& input, const CallArgs& args, const std::string& name);

// jinja2's make_attrgetter: "a.b.0" looks up a, then b, then index 0, each by subscript.
Value AttrPath(Value item, const Value& attribute) {
  if (!attribute.is_string()) return GetItem(item, attribute);
  for (const std::string& part : text::Split(attribute.str(), std::string("."), -1, false)) {
    int64_t index = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
    bool digits = !part.empty() && part[0] != '-' && ec == std::errc() && end == part.data() + part.size();
    item = GetItem(item, digits ? Value(index) : Value(part));
  }
  return item;
}

// An indent argument as tojson and indent take it: a string as is, else that many spaces.
std::string IndentText(const Params& p, size_t i, int64_t fallback) {
  if (p.Has(i) && p[i].is_string()) return p[i].str();
  return std::string(static_cast<size_t>(std::max<int64_t>(0, p.GetInt(i, fallback))), ' ');
}

Value IgnoreCase(const Value& v) { return v.is_string() ? Value(text::Lower(v.str())) : v; }

// The sort key of `item` for sort/unique/min/max: its attribute(s), lower-cased unless asked not to.
Value SortKey(const Value& item, const Value& attribute, bool case_sensitive) {
  auto one = [&](const Value& attr) {
    Value v = attr.is_none() ? item : AttrPath(item, attr);
    return case_sensitive ? v : IgnoreCase(v);
  };
  if (attribute.is_string() && attribute.str().find(',') != std::string::npos) {
    std::vector<Value> keys;
    for (const std::string& part : text::Split(attribute.str(), std::string(","), -1, false))
      keys.push_back(one(Value(part)));
    return Value::List(std::move(keys));
  }
  return one(attribute);
}

Value FLength(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {});
  return Value(Length(in));
}

Value FString(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {});
  if (name == "e" || name == "escape") {
    std::string out;
    for (char c : in.ToString()) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
      }
    }
    return Value(std::move(out));
  }
  std::string s = in.ToString();
  if (name == "upper") return Value(text::Upper(s));
  if (name == "lower") return Value(text::Lower(s));
  if (name == "capitalize") return Value(text::Capitalize(s));
  if (name == "title") {  // jinja2's own rule: a word starts after '-', whitespace or an opening bracket
    std::u32string u = text::Decode(s);
    bool start = true;
    for (char32_t& c : u) {
      bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || text::IsSpace(c);
      c = sep ? c : start ? text::ToUpper(c) : text::ToLower(c);
      start = sep;
    }
    return Value(text::Encode(u));
  }
  return Value(std::move(s));  // string, safe
}

Value FTrim(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"chars"});
  std::optional<std::string> chars;
  if (p.Has(0) && !p[0].is_none()) chars = p.GetString(0, "");
  return Value(text::Strip(in.ToString(), chars, true, true));
}

Value FReplace(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"old", "new", "count"});
  return Value(text::Replace(in.ToString(), p[0].ToString(), p[1].ToString(), p.GetInt(2, -1)));
}

Value FDefault(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"default_value", "boolean"});
  if (in.is_undefined() || (p.GetBool(1, false) && !in.Truthy())) return p.Get(0, Value(""));
  return in;
}

Value FToJson(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions options;
  options.ensure_ascii = p.GetBool(0, false);
  if (p.Has(1) && !p[1].is_none()) {
    options.indent = IndentText(p, 1, 0);
  }
  if (p.Has(2) && !p[2].is_none()) {
    if (!p[2].is_list() || p[2].items().size() != 2 || !p[2].items()[0].is_string() || !p[2].items()[1].is_string()) {
      Fail("tojson(): separators must be a pair of strings");
    }
    options.separators = std::make_pair(p[2].items()[0].str(), p[2].items()[1].str());
  }
  options.sort_keys = p.GetBool(3, false);
  return Value(ToJson(in, options));
}

Value FFirstLast(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {});
  if (name == "last" && !in.is_undefined() && !in.is_list() && !in.is_string() && !in.is_dict()) {
    Fail("'" + in.TypeName() + "' object is not reversible");
  }
  std::vector<Value> items = Iterate(in);
  if (items.empty()) return Value::Undefined("No " + name + " item, sequence was empty.");
  return name == "first" ? items.front() : items.back();
}

Value FJoin(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"d", "attribute"});
  std::string sep = p.Get(0, Value("")).ToString(), out;
  std::vector<Value> items = Iterate(in);
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += (p.Has(1) && !p[1].is_none() ? AttrPath(items[i], p[1]) : items[i]).ToString();
  }
  return Value(std::move(out));
}

Value FItems(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {});
  if (in.is_undefined()) return Value::List({});
  if (!in.is_dict()) Fail("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, v] : in.dict().entries()) out.push_back(Value::List({Value(k), v}, true));
  return Value::List(std::move(out));
}

Value FList(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {});
  if (name == "reverse" && !in.is_undefined() && !in.is_list() && !in.is_string() && !in.is_dict()) {
    Fail("argument must be iterable");
  }
  std::vector<Value> items = Iterate(in);
  if (name == "reverse") {
    if (in.is_string()) {
      std::u32string u = text::Decode(in.str());
      std::reverse(u.begin(), u.end());
      return Value(text::Encode(u));
    }
    std::reverse(items.begin(), items.end());
  }
  return Value::List(std::move(items));
}

Value FSort(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"reverse", "case_sensitive", "attribute"});
  bool reverse = p.GetBool(0, false), case_sensitive = p.GetBool(1, false);
  Value attribute = p.Get(2, Value::None());
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value& item : Iterate(in)) keyed.emplace_back(SortKey(item, attribute, case_sensitive), item);
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& a, const auto& b) {
    return reverse ? OrderCompare("<", b.first, a.first) : OrderCompare("<", a.first, b.first);
  });
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return Value::List(std::move(out));
}

Value FDictSort(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"case_sensitive", "by", "reverse"});
  std::string by = p.GetString(1, "key");
  if (by != "key" && by != "value") Fail("You can only sort by either \"key\" or \"value\"");
  in.Defined();
  if (!in.is_dict()) Fail("'" + in.TypeName() + "' object has no attribute 'items'");
  CallArgs sort_args;
  sort_args.keyword = {{"reverse", Value(p.GetBool(2, false))},
                       {"case_sensitive", Value(p.GetBool(0, false))},
                       {"attribute", Value(by == "key" ? "0" : "1")}};
  return FSort(FItems(in, {}, "items"), sort_args, "dictsort");
}

Value FUnique(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"case_sensitive", "attribute"});
  std::vector<Value> seen, out;
  for (const Value& item : Iterate(in)) {
    Value key = SortKey(item, p.Get(1, Value::None()), p.GetBool(0, false));
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return Equals(s, key); })) continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::List(std::move(out));
}

Value FMinMax(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"case_sensitive", "attribute"});
  std::vector<Value> items = Iterate(in);
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  Value attribute = p.Get(1, Value::None());
  bool case_sensitive = p.GetBool(0, false);
  size_t best = 0;
  Value best_key = SortKey(items[0], attribute, case_sensitive);
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = SortKey(items[i], attribute, case_sensitive);
    if (OrderCompare(name == "min" ? "<" : ">", key, best_key)) {
      best = i;
      best_key = key;
    }
  }
  return items[best];
}

Value FSum(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"attribute", "start"});
  Value total = p.Get(1, Value(int64_t{0}));
  if (total.is_string()) Fail("sum() can't sum strings [use ''.join(seq) instead]");
  for (const Value& item : Iterate(in))
    total = Arithmetic("+", total, p.Has(0) && !p[0].is_none() ? AttrPath(item, p[0]) : item);
  return total;
}

Value FMap(const Value& in, const CallArgs& args, const std::string& name) {
  std::vector<Value> out;
  if (!in.Truthy()) return Value::List({});
  if (args.positional.empty()) {
    Params p(name, args, {"attribute", "default"});
    for (const Value& item : Iterate(in)) {
      Value v = AttrPath(item, p[0]);
      out.push_back(v.is_undefined() && p.Has(1) && !p[1].is_none() ? p[1] : v);
    }
    return Value::List(std::move(out));
  }
  if (!args.positional[0].is_string()) Fail("map(): the filter name must be a string");
  CallArgs rest{std::vector<Value>(args.positional.begin() + 1, args.positional.end()), args.keyword};
  for (const Value& item : Iterate(in)) out.push_back(ApplyFilter(args.positional[0].str(), item, rest));
  return Value::List(std::move(out));
}

Value FSelect(const Value& in, const CallArgs& args, const std::string& name) {
  bool by_attr = name == "selectattr" || name == "rejectattr";
  bool keep_when = name == "select" || name == "selectattr";
  std::vector<Value> out;
  if (!in.Truthy()) return Value::List({});
  size_t off = by_attr ? 1 : 0;
  if (by_attr && args.positional.empty()) Fail("Missing parameter for attribute name");
  bool has_test = args.positional.size() > off;
  if (has_test && !args.positional[off].is_string()) Fail(name + "(): the test name must be a string");
  CallArgs rest;
  if (has_test) rest.positional.assign(args.positional.begin() + off + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : Iterate(in)) {
    Value subject = by_attr ? AttrPath(item, args.positional[0]) : item;
    bool passed = has_test ? ApplyTest(args.positional[off].str(), subject, rest) : subject.Truthy();
    if (passed == keep_when) out.push_back(item);
  }
  return Value::List(std::move(out));
}

Value FAbs(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {});
  if (in.is_float()) return Value(std::fabs(in.as_double()));
  if (in.is_number()) return Value(static_cast<int64_t>(std::llabs(in.as_int())));
  Fail("bad operand type for abs(): '" + in.TypeName() + "'");
}

Value FRound(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"precision", "method"});
  int64_t precision = p.GetInt(0, 0);
  std::string method = p.GetString(1, "common");
  if (method != "common" && method != "ceil" && method != "floor") Fail("method must be common, ceil or floor");
  if (!in.is_number()) Fail("type " + in.TypeName() + " doesn't define __round__ method");
  if (!in.is_float() && method == "common") return Value(in.as_int());
  double scale = std::pow(10.0, static_cast<double>(precision)), x = in.as_double() * scale;
  double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::nearbyint(x);  // half to even
  return Value(r / scale);
}

// int and float: numbers convert, strings are parsed, anything else gives the default.
Value FNumber(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, name == "int" ? std::initializer_list<const char*>{"default", "base"}
                                     : std::initializer_list<const char*>{"default"});
  in.Defined();
  std::optional<double> parsed;
  if (in.is_number()) {
    if (name == "int" && !in.is_float()) return Value(in.as_int());
    parsed = in.as_double();
  } else if (in.is_string()) {
    std::string s = text::Strip(in.str(), std::nullopt, true, true);
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
    char* end = nullptr;
    int base = name == "int" ? static_cast<int>(p.GetInt(1, 10)) : 10;
    long long i = std::strtoll(s.c_str(), &end, base);
    if (name == "int" && !s.empty() && *end == '\0') return Value(static_cast<int64_t>(i));
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && *end == '\0') parsed = d;
  }
  if (!parsed || (name == "int" && !std::isfinite(*parsed))) {
    return p.Get(0, name == "int" ? Value(int64_t{0}) : Value(0.0));
  }
  return name == "int" ? Value(static_cast<int64_t>(std::trunc(*parsed))) : Value(*parsed);
}

Value FFormat(const Value& in, const CallArgs& args, const std::string&) {
  if (!args.positional.empty() && !args.keyword.empty()) {
    Fail("can't handle positional and keyword arguments at the same time");
  }
  if (args.keyword.empty()) return Value(PercentFormat(in.ToString(), Value::List(args.positional, true)));
  DictData kwargs;
  for (const auto& [k, v] : args.keyword) kwargs.Set(k, v);
  return Value(PercentFormat(in.ToString(), Value::Dict(std::move(kwargs))));
}

Value FIndent(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"width", "first", "blank"});
  std::string indent = IndentText(p, 0, 4);
  in.Defined();
  if (in.is_list()) {  // jinja2 appends "\n" to its argument first, then splits it into lines
    Fail(in.is_tuple() ? "can only concatenate tuple (not \"str\") to tuple"
                       : "'list' object has no attribute 'splitlines'");
  }
  if (!in.is_string()) Fail("unsupported operand type(s) for +=: '" + in.TypeName() + "' and 'str'");
  std::vector<std::string> lines = text::SplitLines(in.str() + "\n", false);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += "\n";
    bool indent_line = i > 0 && (p.GetBool(2, false) || !lines[i].empty());
    out += (indent_line ? indent : "") + lines[i];
  }
  return Value(p.GetBool(1, false) ? indent + out : out);
}

Value FAttr(const Value& in, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"name"});
  std::string attr = p.GetString(0, "");
  if (std::optional<Value> method = BoundMethod(in, attr)) return *method;
  if (in.is_object()) {
    if (const Value* v = in.object().attrs.Find(attr)) return *v;
  }
  return Value::Undefined("'" + in.ObjectTypeRepr() + "' has no attribute " + text::PyRepr(attr));
}

const std::map<std::string, Filter>& Filters() {
  static const std::map<std::string, Filter> filters = {
      {"abs", FAbs}, {"attr", FAttr}, {"capitalize", FString}, {"count", FLength}, {"d", FDefault},
      {"default", FDefault}, {"dictsort", FDictSort}, {"e", FString}, {"escape", FString}, {"first", FFirstLast},
      {"float", FNumber}, {"format", FFormat}, {"indent", FIndent}, {"int", FNumber}, {"items", FItems},
      {"join", FJoin}, {"last", FFirstLast}, {"length", FLength}, {"list", FList}, {"lower", FString},
      {"map", FMap}, {"max", FMinMax}, {"min", FMinMax}, {"reject", FSelect}, {"rejectattr", FSelect},
      {"replace", FReplace}, {"reverse", FList}, {"round", FRound}, {"safe", FString}, {"select", FSelect},
      {"selectattr", FSelect}, {"sort", FSort}, {"string", FString}, {"sum", FSum}, {"title", FString},
      {"tojson", FToJson}, {"trim", FTrim}, {"unique", FUnique}, {"upper", FString},
  };
  return filters;
}

}  // namespace

bool HasFilter(const std::string& name) { return Filters().count(name) > 0; }

Value ApplyFilter(const std::string& name, const Value& input, const CallArgs& args) {
  auto it = Filters().find(name);
  if (it == Filters().end()) Fail("No filter named '" + name + "'.");
  return it->second(input, args, name);
}

}  // namespace mixserve::model::jinja
