#include "runtime/model/jinja_eval.h"

#include <memory>
#include <unordered_map>

#include "runtime/model/jinja_builtins.h"
#include "runtime/model/jinja_filters.h"
#include "runtime/model/jinja_ops.h"

namespace mixserve::model::jinja {
namespace {

constexpr int kMaxMacroDepth = 100;  // past this a template recursing forever stops with an error

// Variables of one scope; lookups fall through to the parent.
struct Scope {
  Scope* parent = nullptr;
  std::unordered_map<std::string, Value> vars;
};

enum class Flow { kNormal, kBreak, kContinue };

// Renders one template once: owns the scopes of that render and the macros it defines.
class Interpreter {
 public:
  explicit Interpreter(const DictData& variables) {
    DictData globals = Globals();
    for (const auto& [k, v] : globals.entries()) globals_.vars[k] = v;
    root_.parent = &globals_;
    for (const auto& [k, v] : variables.entries()) root_.vars[k] = v;
  }

  std::string Run(const Body& body) {
    std::string out;
    Exec(body, root_, out);
    return out;
  }

 private:
  Flow Exec(const Body& body, Scope& scope, std::string& out) {
    for (const auto& stmt : body) {
      Flow flow = ExecOne(*stmt, scope, out);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Flow ExecOne(const Stmt& s, Scope& scope, std::string& out) {
    switch (s.kind) {
      case Stmt::Kind::kText: out += s.text; return Flow::kNormal;
      case Stmt::Kind::kOutput: out += Eval(*s.expr, scope).ToString(); return Flow::kNormal;
      case Stmt::Kind::kIf:
        for (const auto& [cond, body] : s.branches)
          if (!cond || Eval(*cond, scope).Truthy()) return Exec(body, scope, out);
        return Flow::kNormal;
      case Stmt::Kind::kFor: ExecFor(s, scope, out); return Flow::kNormal;
      case Stmt::Kind::kSet: Assign(s.target, Eval(*s.expr, scope), scope); return Flow::kNormal;
      case Stmt::Kind::kSetBlock: Assign(s.target, RenderBlock(s, scope), scope); return Flow::kNormal;
      case Stmt::Kind::kFilterBlock: out += RenderBlock(s, scope).ToString(); return Flow::kNormal;
      case Stmt::Kind::kMacro: DefineMacro(s, scope); return Flow::kNormal;
      case Stmt::Kind::kBreak: return Flow::kBreak;
      case Stmt::Kind::kContinue: return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  // The body of a set or filter block, rendered in its own scope and passed through its filters.
  Value RenderBlock(const Stmt& s, Scope& scope) {
    Scope inner{&scope, {}};
    std::string text;
    Exec(s.body, inner, text);
    Value value(std::move(text));
    for (const auto& filter : s.filter_chain) value = ApplyFilter(filter->name, value, EvalArgs(*filter, scope));
    return value;
  }

  void ExecFor(const Stmt& s, Scope& scope, std::string& out) {
    std::vector<Value> items = Iterate(Eval(*s.expr, scope));
    if (s.filter) {
      std::vector<Value> kept;
      for (Value& item : items) {
        Scope probe{&scope, {}};
        Assign(s.target, item, probe);
        if (Eval(*s.filter, probe).Truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      Scope iteration{&scope, {}};
      Assign(s.target, items[i], iteration);
      iteration.vars["loop"] = LoopObject(items, i);
      if (Exec(s.body, iteration, out) == Flow::kBreak) break;
    }
    if (n == 0 && !s.else_body.empty()) {
      Scope inner{&scope, {}};
      Exec(s.else_body, inner, out);
    }
  }

  static Value LoopObject(const std::vector<Value>& items, int64_t i) {
    const int64_t n = static_cast<int64_t>(items.size());
    auto loop = std::make_shared<ObjectData>();
    loop->kind = ObjectData::Kind::kLoop;
    DictData& a = loop->attrs;
    a.Set("index", Value(i + 1));
    a.Set("index0", Value(i));
    a.Set("revindex", Value(n - i));
    a.Set("revindex0", Value(n - i - 1));
    a.Set("first", Value(i == 0));
    a.Set("last", Value(i == n - 1));
    a.Set("length", Value(n));
    a.Set("depth", Value(int64_t{1}));
    a.Set("depth0", Value(int64_t{0}));
    a.Set("previtem", i > 0 ? items[i - 1] : Value::Undefined("there is no previous item"));
    a.Set("nextitem", i + 1 < n ? items[i + 1] : Value::Undefined("there is no next item"));
    a.Set("cycle", Value::Callable("cycle", [i](const CallArgs& args) {
            if (args.positional.empty()) Fail("no items for cycling given");
            return args.positional[static_cast<size_t>(i) % args.positional.size()];
          }));
    return Value::Object(std::move(loop));
  }

  void Assign(const Target& target, const Value& value, Scope& scope) {
    if (!target.attribute.empty()) {
      Value ns = Lookup(target.names[0], scope);
      if (!ns.is_namespace()) Fail("cannot assign attribute on non-namespace object");
      ns.object().attrs.Set(target.attribute, value);
      return;
    }
    if (!target.is_tuple) {
      scope.vars[target.names[0]] = value;
      return;
    }
    std::vector<Value> parts = Iterate(value);
    size_t want = target.names.size();
    if (parts.size() < want) {
      Fail("not enough values to unpack (expected " + std::to_string(want) + ", got " + std::to_string(parts.size()) +
           ")");
    }
    if (parts.size() > want) Fail("too many values to unpack (expected " + std::to_string(want) + ")");
    for (size_t i = 0; i < want; ++i) scope.vars[target.names[i]] = parts[i];
  }

  Value Lookup(const std::string& name, const Scope& scope) const {
    for (const Scope* s = &scope; s; s = s->parent) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return it->second;
    }
    return Value::Undefined("'" + name + "' is undefined");
  }

  void DefineMacro(const Stmt& s, Scope& scope) {
    const Stmt* macro = &s;
    scope.vars[s.name] =
        Value::Callable(s.name, [this, macro](const CallArgs& args) { return CallMacro(*macro, args); }, true);
  }

  // Macros see their arguments over the template's top-level variables.
  Value CallMacro(const Stmt& m, const CallArgs& args) {
    struct DepthGuard {
      explicit DepthGuard(int& d) : depth(d) {
        if (++depth > kMaxMacroDepth) Fail("maximum recursion depth exceeded");
      }
      ~DepthGuard() { --depth; }
      int& depth;
    } guard(macro_depth_);
    if (args.positional.size() > m.params.size()) {
      Fail("macro '" + m.name + "' takes not more than " + std::to_string(m.params.size()) + " argument(s)");
    }
    Scope scope{&root_, {}};
    std::vector<bool> bound(m.params.size(), false);
    for (size_t i = 0; i < args.positional.size(); ++i) {
      scope.vars[m.params[i].name] = args.positional[i];
      bound[i] = true;
    }
    for (const auto& [key, value] : args.keyword) {
      size_t i = 0;
      while (i < m.params.size() && m.params[i].name != key) ++i;
      if (i == m.params.size()) Fail("macro '" + m.name + "' takes no keyword argument '" + key + "'");
      scope.vars[key] = value;
      bound[i] = true;
    }
    for (size_t i = 0; i < m.params.size(); ++i) {
      if (bound[i]) continue;
      const MacroParam& p = m.params[i];
      scope.vars[p.name] = p.default_value ? Eval(*p.default_value, scope)
                                           : Value::Undefined("parameter '" + p.name + "' was not provided");
    }
    std::string out;
    Exec(m.body, scope, out);
    return Value(std::move(out));
  }

  // Arguments of a call, filter or test node: args[1..] and the keywords.
  CallArgs EvalArgs(const Expr& e, Scope& scope) {
    CallArgs args;
    for (size_t i = 1; i < e.args.size(); ++i) args.positional.push_back(Eval(*e.args[i], scope));
    for (const auto& [key, expr] : e.kwargs) args.keyword.emplace_back(key, Eval(*expr, scope));
    return args;
  }

  Value Eval(const Expr& e, Scope& scope) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return e.value;
      case Expr::Kind::kName: return Lookup(e.name, scope);
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        std::vector<Value> items;
        for (const auto& a : e.args) items.push_back(Eval(*a, scope));
        return Value::List(std::move(items), e.kind == Expr::Kind::kTuple);
      }
      case Expr::Kind::kDict: {
        DictData dict;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          Value key = Eval(*e.args[i], scope);
          if (!key.is_string()) Fail("dict literal keys must be strings, not " + key.TypeName());
          dict.Set(key.str(), Eval(*e.args[i + 1], scope));
        }
        return Value::Dict(std::move(dict));
      }
      case Expr::Kind::kAttr: return GetAttr(Eval(*e.args[0], scope), e.name);
      case Expr::Kind::kItem: return GetItem(Eval(*e.args[0], scope), Eval(*e.args[1], scope));
      case Expr::Kind::kSlice: {
        Value obj = Eval(*e.args[0], scope);
        auto bound = [&](size_t i) { return e.args[i] ? Eval(*e.args[i], scope) : Value::None(); };
        return Slice(obj, bound(1), bound(2), bound(3));
      }
      case Expr::Kind::kCall: {
        Value callee = Eval(*e.args[0], scope);
        return Call(callee, EvalArgs(e, scope));
      }
      case Expr::Kind::kFilter: {
        Value input = Eval(*e.args[0], scope);
        return ApplyFilter(e.name, input, EvalArgs(e, scope));
      }
      case Expr::Kind::kTest: {
        Value input = Eval(*e.args[0], scope);
        return Value(ApplyTest(e.name, input, EvalArgs(e, scope)) != e.negated);
      }
      case Expr::Kind::kUnary: {
        Value v = Eval(*e.args[0], scope);
        if (e.name == "not") return Value(!v.Truthy());
        return e.name == "-" ? Negate(v) : UnaryPlus(v);
      }
      case Expr::Kind::kBinary: return EvalBinary(e, scope);
      case Expr::Kind::kCompare: {
        Value left = Eval(*e.args[0], scope);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = Eval(*e.args[i + 1], scope);
          if (!Compare(e.ops[i], left, right)) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      case Expr::Kind::kCondition: {
        if (Eval(*e.args[0], scope).Truthy()) return Eval(*e.args[1], scope);
        if (e.args[2]) return Eval(*e.args[2], scope);
        return Value::Undefined("the inline if-expression on line " + std::to_string(e.line) +
                                " evaluated to false and no else section was defined.");
      }
    }
    return Value();
  }

  Value EvalBinary(const Expr& e, Scope& scope) {
    Value left = Eval(*e.args[0], scope);
    if (e.name == "and") return left.Truthy() ? Eval(*e.args[1], scope) : left;
    if (e.name == "or") return left.Truthy() ? left : Eval(*e.args[1], scope);
    Value right = Eval(*e.args[1], scope);
    if (e.name == "~") return Value(left.ToString() + right.ToString());
    return Arithmetic(e.name, left, right);
  }

  static bool Compare(const std::string& op, const Value& a, const Value& b) {
    if (op == "==") return Equals(a, b);
    if (op == "!=") return !Equals(a, b);
    if (op == "in") return Contains(b, a);
    if (op == "notin") return !Contains(b, a);
    return OrderCompare(op, a, b);
  }

  Scope globals_;
  Scope root_;
  int macro_depth_ = 0;
};

}  // namespace

std::string Execute(const Body& body, const DictData& variables) { return Interpreter(variables).Run(body); }

}  // namespace mixserve::model::jinja
