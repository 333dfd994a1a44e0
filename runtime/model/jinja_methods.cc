#include "runtime/model/jinja_methods.h"

#include <set>

#include "runtime/model/jinja_ops.h"
#include "runtime/model/jinja_text.h"

namespace mixserve::model::jinja {
namespace {

using Method = Value (*)(const Value& self, const CallArgs& args, const std::string& name);

std::vector<Value> Strings(const std::vector<std::string>& parts) {
  std::vector<Value> out;
  out.reserve(parts.size());
  for (const std::string& p : parts) out.emplace_back(p);
  return out;
}

std::optional<std::string> OptionalString(const Params& p, size_t i) {
  if (!p.Has(i) || p[i].is_none()) return std::nullopt;
  return p.GetString(i, "");
}

// The code-point range [start, end) of str.startswith(prefix, start, end) as a substring.
std::string Window(const std::string& s, const Params& p) {
  if (!p.Has(1) && !p.Has(2)) return s;
  Value sliced = Slice(Value(s), p.Get(1, Value::None()), p.Get(2, Value::None()), Value::None());
  return sliced.str();
}

Value StrStrip(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"chars"});
  return Value(text::Strip(self.str(), OptionalString(p, 0), name != "rstrip", name != "lstrip"));
}

Value StrAffix(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"affix", "start", "end"});
  std::string window = Window(self.str(), p);
  std::vector<Value> candidates = p[0].is_tuple() ? p[0].items() : std::vector<Value>{p[0]};
  for (const Value& c : candidates) {
    if (!c.is_string()) {
      Fail(name + " first arg must be str or a tuple of str, not " + c.TypeName());
    }
    const std::string& a = c.str();
    bool hit = a.size() <= window.size() &&
               (name == "startswith" ? window.compare(0, a.size(), a) == 0
                                     : window.compare(window.size() - a.size(), a.size(), a) == 0);
    if (hit) return Value(true);
  }
  return Value(false);
}

Value StrSplit(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"sep", "maxsplit"});
  std::optional<std::string> sep = OptionalString(p, 0);
  if (sep && sep->empty()) Fail("empty separator");
  return Value::List(Strings(text::Split(self.str(), sep, p.GetInt(1, -1), name == "rsplit")));
}

Value StrSplitLines(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"keepends"});
  return Value::List(Strings(text::SplitLines(self.str(), p.GetBool(0, false))));
}

Value StrCase(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {});
  const std::string& s = self.str();
  if (name == "upper") return Value(text::Upper(s));
  if (name == "lower" || name == "casefold") return Value(text::Lower(s));
  if (name == "title") return Value(text::Title(s));
  return Value(text::Capitalize(s));
}

Value StrReplace(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"old", "new", "count"});
  return Value(text::Replace(self.str(), p.GetString(0, ""), p.GetString(1, ""), p.GetInt(2, -1)));
}

Value StrFind(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"sub"});
  std::string sub = p.GetString(0, "");
  if (name == "count") return Value(static_cast<int64_t>(text::Count(self.str(), sub)));
  long at = text::Find(self.str(), sub, name == "rfind" || name == "rindex");
  if (at < 0 && (name == "index" || name == "rindex")) Fail("substring not found");
  return Value(static_cast<int64_t>(at));
}

Value StrJoin(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"iterable"});
  std::string out;
  std::vector<Value> items = Iterate(p[0]);
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) {
      Fail("sequence item " + std::to_string(i) + ": expected str instance, " + items[i].TypeName() + " found");
    }
    if (i) out += self.str();
    out += items[i].str();
  }
  return Value(std::move(out));
}

Value StrClass(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {});
  std::u32string u = text::Decode(self.str());
  if (u.empty()) return Value(false);
  bool has_cased = false;
  for (char32_t c : u) {
    bool ok = name == "isspace"   ? text::IsSpace(c)
              : name == "isdigit" ? text::IsDigit(c)
              : name == "isalpha" ? text::IsAlpha(c)
              : name == "isalnum" ? text::IsAlpha(c) || text::IsDigit(c)
              : name == "islower" ? text::ToUpper(c) == c
                                  : text::ToLower(c) == c;  // isupper
    if (!ok) return Value(false);
    has_cased = has_cased || text::ToUpper(c) != text::ToLower(c);
  }
  return Value(name == "islower" || name == "isupper" ? has_cased : true);
}

Value DictItems(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {});
  std::vector<Value> out;
  for (const auto& [k, v] : self.dict().entries()) {
    if (name == "items") {
      out.push_back(Value::List({Value(k), v}, true));
    } else {
      out.push_back(name == "keys" ? Value(k) : v);
    }
  }
  return Value::List(std::move(out));
}

Value DictGet(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"key", "default"});
  if (p[0].is_string()) {
    if (const Value* v = self.dict().Find(p[0].str())) return *v;
  } else if (p[0].is_list() && !p[0].is_tuple()) {
    Fail("unhashable type: 'list'");
  }
  return p.Get(1, Value::None());
}

Value Copy(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {});
  return self;
}

Value ListSearch(const Value& self, const CallArgs& args, const std::string& name) {
  Params p(name, args, {"value"});
  int64_t count = 0;
  for (size_t i = 0; i < self.items().size(); ++i) {
    if (!Equals(self.items()[i], p[0])) continue;
    if (name == "index") return Value(static_cast<int64_t>(i));
    ++count;
  }
  if (name == "index") Fail(p[0].Repr() + " is not in " + self.TypeName());
  return Value(count);
}

Method StrMethod(const std::string& n) {
  if (n == "strip" || n == "lstrip" || n == "rstrip") return StrStrip;
  if (n == "startswith" || n == "endswith") return StrAffix;
  if (n == "split" || n == "rsplit") return StrSplit;
  if (n == "splitlines") return StrSplitLines;
  if (n == "upper" || n == "lower" || n == "casefold" || n == "title" || n == "capitalize") return StrCase;
  if (n == "replace") return StrReplace;
  if (n == "find" || n == "rfind" || n == "index" || n == "rindex" || n == "count") return StrFind;
  if (n == "join") return StrJoin;
  if (n == "isspace" || n == "isdigit" || n == "isalpha" || n == "isalnum" || n == "islower" || n == "isupper")
    return StrClass;
  return nullptr;
}

Method DictMethod(const std::string& n) {
  if (n == "items" || n == "keys" || n == "values") return DictItems;
  if (n == "get") return DictGet;
  if (n == "copy") return Copy;
  return nullptr;
}

Method ListMethod(const std::string& n, bool is_tuple) {
  if (n == "index" || n == "count") return ListSearch;
  if (n == "copy" && !is_tuple) return Copy;
  return nullptr;
}

}  // namespace

std::optional<Value> BoundMethod(const Value& obj, const std::string& name) {
  static const std::set<std::string> kListMutators = {"append", "clear",   "extend", "insert",
                                                      "pop",    "remove",  "reverse", "sort"};
  static const std::set<std::string> kDictMutators = {"clear", "pop", "popitem", "setdefault", "update"};
  Method method = nullptr;
  if (obj.is_string()) {
    method = StrMethod(name);
  } else if (obj.is_dict()) {
    method = DictMethod(name);
    if (!method && kDictMutators.count(name)) {
      return Value::Undefined("access to attribute '" + name + "' of 'dict' object is unsafe.");
    }
  } else if (obj.is_list()) {
    method = ListMethod(name, obj.is_tuple());
    if (!method && !obj.is_tuple() && kListMutators.count(name)) {
      return Value::Undefined("access to attribute '" + name + "' of 'list' object is unsafe.");
    }
  }
  if (!method) return std::nullopt;
  return Value::Callable(name, [obj, method, name](const CallArgs& args) { return method(obj, args, name); });
}

}  // namespace mixserve::model::jinja
