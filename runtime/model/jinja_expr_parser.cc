#include "runtime/model/jinja_expr_parser.h"

#include <charconv>
#include <cstdlib>

namespace mixserve::model::jinja {
namespace {

ExprPtr Literal(Value value, int line) {
  ExprPtr e = MakeExpr(Expr::Kind::kLiteral, line);
  e->value = std::move(value);
  return e;
}

}  // namespace

ExprPtr MakeExpr(Expr::Kind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

std::string ExpressionParser::Describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::kEnd: return "end of template";
    case TokenKind::kVariableEnd: return "'}}'";
    case TokenKind::kBlockEnd: return "'%}'";
    case TokenKind::kText: return "template text";
    case TokenKind::kString: return "string";
    default: return "'" + t.value + "'";
  }
}

void ExpressionParser::ExpectOp(std::string_view op) {
  if (!SkipOp(op)) Fail("expected '" + std::string(op) + "', got " + Describe(Cur()));
}

void ExpressionParser::ExpectName(std::string_view name) {
  if (!SkipName(name)) Fail("expected '" + std::string(name) + "', got " + Describe(Cur()));
}

std::string ExpressionParser::ExpectIdentifier() {
  if (Cur().kind != TokenKind::kName) Fail("expected a name, got " + Describe(Cur()));
  return Next().value;
}

ExpressionParser::Guard::Guard(ExpressionParser* p) : parser(p) {
  if (++parser->depth_ > kMaxNesting) parser->Fail("expression nested too deeply");
}

// One precedence level of left-associative binary operators.
ExprPtr ExpressionParser::ParseLevel(std::initializer_list<std::string_view> ops, Production operand) {
  ExprPtr left = (this->*operand)();
  while (true) {
    bool matched = false;
    for (std::string_view op : ops) matched = matched || IsOp(Cur(), op);
    if (!matched) return left;
    const Token& t = Next();
    left = Binary(t.value, std::move(left), (this->*operand)(), t.line);
  }
}

bool ExpressionParser::IsTupleEnd(std::initializer_list<std::string_view> extra_end) const {
  const Token& t = Cur();
  if (t.kind == TokenKind::kVariableEnd || t.kind == TokenKind::kBlockEnd || t.kind == TokenKind::kEnd ||
      IsOp(t, ")"))
    return true;
  for (std::string_view name : extra_end)
    if (IsName(t, name)) return true;
  return false;
}

ExprPtr ExpressionParser::ParseTuple(bool with_condition, bool explicit_parens,
                                     std::initializer_list<std::string_view> extra_end) {
  int line = Cur().line;
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) ExpectOp(",");
    if (IsTupleEnd(extra_end)) break;
    items.push_back(with_condition ? ParseExpression(true) : ParseOr());
    if (IsOp(Cur(), ",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (items.size() == 1) return std::move(items[0]);
    if (!explicit_parens) Fail("expected an expression, got " + Describe(Cur()));
  }
  ExprPtr e = MakeExpr(Expr::Kind::kTuple, line);
  e->args = std::move(items);
  return e;
}

ExprPtr ExpressionParser::ParseCondition() {
  ExprPtr expr = ParseOr();
  while (IsName(Cur(), "if")) {
    int line = Next().line;
    ExprPtr e = MakeExpr(Expr::Kind::kCondition, line);
    e->args.push_back(ParseOr());
    e->args.push_back(std::move(expr));
    e->args.push_back(SkipName("else") ? ParseCondition() : nullptr);
    expr = std::move(e);
  }
  return expr;
}

ExprPtr ExpressionParser::Binary(std::string op, ExprPtr left, ExprPtr right, int line) {
  ExprPtr e = MakeExpr(Expr::Kind::kBinary, line);
  e->name = std::move(op);
  e->args.push_back(std::move(left));
  e->args.push_back(std::move(right));
  return e;
}

ExprPtr ExpressionParser::ParseOr() {
  ExprPtr left = ParseAnd();
  while (IsName(Cur(), "or")) {
    int line = Next().line;
    left = Binary("or", std::move(left), ParseAnd(), line);
  }
  return left;
}

ExprPtr ExpressionParser::ParseAnd() {
  ExprPtr left = ParseNot();
  while (IsName(Cur(), "and")) {
    int line = Next().line;
    left = Binary("and", std::move(left), ParseNot(), line);
  }
  return left;
}

ExprPtr ExpressionParser::ParseNot() {
  if (!IsName(Cur(), "not")) return ParseCompare();
  int line = Next().line;
  Guard guard(this);
  ExprPtr e = MakeExpr(Expr::Kind::kUnary, line);
  e->name = "not";
  e->args.push_back(ParseNot());
  return e;
}

ExprPtr ExpressionParser::ParseCompare() {
  int line = Cur().line;
  ExprPtr first = ParseMath1();
  std::vector<std::string> ops;
  std::vector<ExprPtr> operands;
  while (true) {
    const Token& t = Cur();
    static const std::string_view kComparisons[] = {"==", "!=", "<", "<=", ">", ">="};
    bool is_comparison = false;
    for (std::string_view op : kComparisons) is_comparison = is_comparison || IsOp(t, op);
    if (is_comparison) {
      ops.push_back(Next().value);
    } else if (IsName(t, "in")) {
      Next();
      ops.push_back("in");
    } else if (IsName(t, "not") && IsName(Look(), "in")) {
      Next();
      Next();
      ops.push_back("notin");
    } else {
      break;
    }
    operands.push_back(ParseMath1());
  }
  if (ops.empty()) return first;
  ExprPtr e = MakeExpr(Expr::Kind::kCompare, line);
  e->args.push_back(std::move(first));
  for (auto& o : operands) e->args.push_back(std::move(o));
  e->ops = std::move(ops);
  return e;
}

ExprPtr ExpressionParser::ParseMath1() { return ParseLevel({"+", "-"}, &ExpressionParser::ParseConcat); }
ExprPtr ExpressionParser::ParseConcat() { return ParseLevel({"~"}, &ExpressionParser::ParseMath2); }
ExprPtr ExpressionParser::ParseMath2() { return ParseLevel({"*", "/", "//", "%"}, &ExpressionParser::ParsePow); }
ExprPtr ExpressionParser::ParsePow() { return ParseLevel({"**"}, &ExpressionParser::ParseUnaryWithFilters); }

ExprPtr ExpressionParser::ParseUnary(bool with_filter) {
  Guard guard(this);
  ExprPtr node;
  if (IsOp(Cur(), "-") || IsOp(Cur(), "+")) {
    const Token& t = Next();
    node = MakeExpr(Expr::Kind::kUnary, t.line);
    node->name = t.value;
    node->args.push_back(ParseUnary(false));
  } else {
    node = ParsePrimary();
  }
  node = ParsePostfix(std::move(node));
  return with_filter ? ParseFilterExpr(std::move(node)) : std::move(node);
}

ExprPtr ExpressionParser::ParsePrimary() {
  const Token& t = Cur();
  int line = t.line;
  switch (t.kind) {
    case TokenKind::kName: {
      Next();
      if (t.value == "true" || t.value == "True") return Literal(Value(true), line);
      if (t.value == "false" || t.value == "False") return Literal(Value(false), line);
      if (t.value == "none" || t.value == "None") return Literal(Value::None(), line);
      ExprPtr e = MakeExpr(Expr::Kind::kName, line);
      e->name = t.value;
      return e;
    }
    case TokenKind::kString: {
      std::string s = Next().value;
      while (Cur().kind == TokenKind::kString) s += Next().value;
      return Literal(Value(std::move(s)), line);
    }
    case TokenKind::kInteger: {
      int64_t v = 0;
      auto res = std::from_chars(t.value.data(), t.value.data() + t.value.size(), v);
      if (res.ec != std::errc()) Fail("integer literal out of range: " + t.value);
      Next();
      return Literal(Value(v), line);
    }
    case TokenKind::kFloat: {
      double d = std::strtod(t.value.c_str(), nullptr);
      Next();
      return Literal(Value(d), line);
    }
    default: break;
  }
  if (SkipOp("(")) {
    ExprPtr e = ParseTuple(true, true, {});
    ExpectOp(")");
    return e;
  }
  if (SkipOp("[")) {
    ExprPtr e = MakeExpr(Expr::Kind::kList, line);
    while (!SkipOp("]")) {
      if (!e->args.empty()) ExpectOp(",");
      if (SkipOp("]")) break;
      e->args.push_back(ParseExpression(true));
    }
    return e;
  }
  if (SkipOp("{")) {
    ExprPtr e = MakeExpr(Expr::Kind::kDict, line);
    while (!SkipOp("}")) {
      if (!e->args.empty()) ExpectOp(",");
      if (SkipOp("}")) break;
      e->args.push_back(ParseExpression(true));
      ExpectOp(":");
      e->args.push_back(ParseExpression(true));
    }
    return e;
  }
  Fail("unexpected " + Describe(t));
}

ExprPtr ExpressionParser::ParsePostfix(ExprPtr node) {
  while (true) {
    if (IsOp(Cur(), ".") || IsOp(Cur(), "[")) {
      node = ParseSubscript(std::move(node));
    } else if (IsOp(Cur(), "(")) {
      node = ParseCall(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr ExpressionParser::ParseFilterExpr(ExprPtr node) {
  while (true) {
    if (IsOp(Cur(), "|")) {
      Next();
      node = ParseFilterCall(std::move(node));
    } else if (IsName(Cur(), "is")) {
      node = ParseTest(std::move(node));
    } else if (IsOp(Cur(), "(")) {
      node = ParseCall(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr ExpressionParser::ParseSubscript(ExprPtr node) {
  const Token& t = Next();
  if (t.value == ".") {
    const Token& attr = Cur();
    if (attr.kind == TokenKind::kName) {
      ExprPtr e = MakeExpr(Expr::Kind::kAttr, t.line);
      e->name = Next().value;
      e->args.push_back(std::move(node));
      return e;
    }
    if (attr.kind != TokenKind::kInteger) Fail("expected a name after '.', got " + Describe(attr));
    ExprPtr e = MakeExpr(Expr::Kind::kItem, t.line);
    e->args.push_back(std::move(node));
    e->args.push_back(ParsePrimary());
    return e;
  }
  std::vector<ExprPtr> keys;
  bool is_slice = false;
  ExprPtr slice = MakeExpr(Expr::Kind::kSlice, t.line);
  while (!SkipOp("]")) {
    if (!keys.empty() || is_slice) ExpectOp(",");
    ExprPtr start = IsOp(Cur(), ":") ? nullptr : ParseExpression(true);
    if (!IsOp(Cur(), ":")) {
      keys.push_back(std::move(start));
      continue;
    }
    Next();
    is_slice = true;
    slice->args.push_back(std::move(node));
    slice->args.push_back(std::move(start));
    slice->args.push_back(IsOp(Cur(), ":") || IsOp(Cur(), "]") ? nullptr : ParseExpression(true));
    ExprPtr step;
    if (SkipOp(":") && !IsOp(Cur(), "]")) step = ParseExpression(true);
    slice->args.push_back(std::move(step));
  }
  if (is_slice) {
    if (!keys.empty()) Fail("a subscript mixing a slice and other keys is not supported");
    return slice;
  }
  if (keys.empty()) Fail("expected a subscript inside '[]'");
  ExprPtr e = MakeExpr(Expr::Kind::kItem, t.line);
  e->args.push_back(std::move(node));
  if (keys.size() == 1) {
    e->args.push_back(std::move(keys[0]));
  } else {
    ExprPtr tuple = MakeExpr(Expr::Kind::kTuple, t.line);
    tuple->args = std::move(keys);
    e->args.push_back(std::move(tuple));
  }
  return e;
}

// `(args)` appended to `e`, whose args already hold the callee or filtered value.
void ExpressionParser::ParseArguments(Expr& e) {
  ExpectOp("(");
  bool first = true;
  while (!SkipOp(")")) {
    if (!first) {
      ExpectOp(",");
      if (SkipOp(")")) break;
    }
    first = false;
    if (IsOp(Cur(), "*") || IsOp(Cur(), "**")) Fail("*args and **kwargs in calls are not supported");
    if (Cur().kind == TokenKind::kName && IsOp(Look(), "=")) {
      std::string key = Next().value;
      Next();
      e.kwargs.emplace_back(std::move(key), ParseExpression(true));
    } else {
      if (!e.kwargs.empty()) Fail("positional argument after keyword argument");
      e.args.push_back(ParseExpression(true));
    }
  }
}

ExprPtr ExpressionParser::ParseCall(ExprPtr callee) {
  ExprPtr e = MakeExpr(Expr::Kind::kCall, Cur().line);
  e->args.push_back(std::move(callee));
  ParseArguments(*e);
  return e;
}

std::string ExpressionParser::DottedName() {
  std::string name = ExpectIdentifier();
  while (IsOp(Cur(), ".")) {
    Next();
    name += "." + ExpectIdentifier();
  }
  return name;
}

ExprPtr ExpressionParser::ParseFilterCall(ExprPtr node) {
  ExprPtr e = MakeExpr(Expr::Kind::kFilter, Cur().line);
  e->name = DottedName();
  e->args.push_back(std::move(node));
  if (IsOp(Cur(), "(")) ParseArguments(*e);
  return e;
}

ExprPtr ExpressionParser::ParseTest(ExprPtr node) {
  ExprPtr e = MakeExpr(Expr::Kind::kTest, Next().line);
  e->negated = SkipName("not");
  e->name = DottedName();
  e->args.push_back(std::move(node));
  const Token& t = Cur();
  if (IsOp(t, "(")) {
    ParseArguments(*e);
  } else if ((t.kind == TokenKind::kName || t.kind == TokenKind::kString || t.kind == TokenKind::kInteger ||
              t.kind == TokenKind::kFloat || IsOp(t, "[") || IsOp(t, "{")) &&
             !IsName(t, "else") && !IsName(t, "or") && !IsName(t, "and")) {
    if (IsName(t, "is")) Fail("tests cannot be chained with 'is'");
    e->args.push_back(ParsePostfix(ParsePrimary()));
  }
  return e;
}

}  // namespace mixserve::model::jinja
