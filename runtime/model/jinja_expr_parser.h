// ExpressionParser: parses Jinja expressions from the lexer's tokens with jinja2's grammar and
// precedence (loosest first): `x if c else y`, or, and, not, comparisons and in / not in, + -,
// ~, * / // %, **, unary - +, then postfix .attr [key] [a:b:c] (args) | filter and `is` test.
//
// The statement parser (jinja_parser.cc) builds on it. Errors are thrown as SyntaxError and
// reported by Parse() as a Status naming the line.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/model/jinja_ast.h"
#include "runtime/model/jinja_lexer.h"

namespace mixserve::model::jinja {

struct SyntaxError {
  int line;
  std::string message;
};

ExprPtr MakeExpr(Expr::Kind kind, int line);

class ExpressionParser {
 public:
  explicit ExpressionParser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

 protected:
  static constexpr int kMaxNesting = 200;  // deeper templates are refused rather than risk the stack

  const Token& Cur() const { return tokens_[pos_]; }
  const Token& Look() const { return tokens_[pos_ + 1 < tokens_.size() ? pos_ + 1 : pos_]; }
  const Token& Next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  [[noreturn]] void Fail(const std::string& message) const { throw SyntaxError{Cur().line, message}; }
  static std::string Describe(const Token& t);
  static bool IsOp(const Token& t, std::string_view op) { return t.kind == TokenKind::kOperator && t.value == op; }
  static bool IsName(const Token& t, std::string_view name) { return t.kind == TokenKind::kName && t.value == name; }
  bool SkipOp(std::string_view op) { return IsOp(Cur(), op) ? (Next(), true) : false; }
  bool SkipName(std::string_view name) { return IsName(Cur(), name) ? (Next(), true) : false; }
  void ExpectOp(std::string_view op);
  void ExpectName(std::string_view name);
  std::string ExpectIdentifier();

  // Comma-separated expressions: one without a trailing comma is itself, else a tuple. Ends at
  // `}}`, `%}`, `)` or a name in `extra_end`. Without `with_condition` a trailing `if` is left alone.
  ExprPtr ParseTuple(bool with_condition, bool explicit_parens, std::initializer_list<std::string_view> extra_end);
  ExprPtr ParseExpression(bool with_condition) { return with_condition ? ParseCondition() : ParseOr(); }
  // `name(args)` after a `|`, applied to `node` (null for filter blocks).
  ExprPtr ParseFilterCall(ExprPtr node);

  int depth_ = 0;

 private:
  // Counts nesting of the recursive productions so that a pathological template fails cleanly.
  struct Guard {
    explicit Guard(ExpressionParser* p);
    ~Guard() { --parser->depth_; }
    ExpressionParser* parser;
  };
  using Production = ExprPtr (ExpressionParser::*)();

  bool IsTupleEnd(std::initializer_list<std::string_view> extra_end) const;
  ExprPtr ParseCondition();
  ExprPtr Binary(std::string op, ExprPtr left, ExprPtr right, int line);
  ExprPtr ParseOr();
  ExprPtr ParseAnd();
  ExprPtr ParseNot();
  ExprPtr ParseCompare();
  ExprPtr ParseLevel(std::initializer_list<std::string_view> ops, Production operand);
  ExprPtr ParseMath1();
  ExprPtr ParseConcat();
  ExprPtr ParseMath2();
  ExprPtr ParsePow();
  ExprPtr ParseUnaryWithFilters() { return ParseUnary(true); }
  ExprPtr ParseUnary(bool with_filter);
  ExprPtr ParsePrimary();
  ExprPtr ParsePostfix(ExprPtr node);
  ExprPtr ParseFilterExpr(ExprPtr node);
  ExprPtr ParseSubscript(ExprPtr node);
  void ParseArguments(Expr& e);
  ExprPtr ParseCall(ExprPtr callee);
  std::string DottedName();
  ExprPtr ParseTest(ExprPtr node);

  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace mixserve::model::jinja
