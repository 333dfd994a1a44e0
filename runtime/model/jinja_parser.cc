#include "runtime/model/jinja_parser.h"

#include <initializer_list>

#include "runtime/model/jinja_expr_parser.h"
#include "runtime/model/jinja_lexer.h"

namespace mixserve::model::jinja {
namespace {

// The statement level of the grammar: template text, {{ }} output and {% %} tags.
class Parser : public ExpressionParser {
 public:
  using ExpressionParser::ExpressionParser;

  Body ParseTemplate() { return Subparse({}); }

 private:
  void ExpectBlockEnd() {
    if (Cur().kind != TokenKind::kBlockEnd) Fail("expected '%}', got " + Describe(Cur()));
    Next();
  }

  // Statements up to (not including) a `{%` whose tag is one of `end_tags`.
  Body Subparse(std::initializer_list<std::string_view> end_tags) {
    if (++depth_ > kMaxNesting) Fail("template nested too deeply");
    Body body;
    while (true) {
      const Token& t = Cur();
      if (t.kind == TokenKind::kEnd) {
        if (end_tags.size() == 0) break;
        std::string expected;
        for (std::string_view tag : end_tags) expected += (expected.empty() ? "'" : " or '") + std::string(tag) + "'";
        Fail("unexpected end of template, expected " + expected);
      }
      if (t.kind == TokenKind::kText) {
        auto s = MakeStmt(Stmt::Kind::kText, t.line);
        s->text = t.value;
        body.push_back(std::move(s));
        Next();
      } else if (t.kind == TokenKind::kVariableBegin) {
        Next();
        auto s = MakeStmt(Stmt::Kind::kOutput, t.line);
        s->expr = ParseTuple(true, false, {});
        if (Cur().kind != TokenKind::kVariableEnd) Fail("expected '}}', got " + Describe(Cur()));
        Next();
        body.push_back(std::move(s));
      } else if (t.kind == TokenKind::kBlockBegin) {
        bool ends = false;
        for (std::string_view tag : end_tags) ends = ends || IsName(Look(), tag);
        if (ends) break;
        Next();
        ParseStatement(body);
      } else {
        Fail("unexpected " + Describe(t));
      }
    }
    --depth_;
    return body;
  }

  static std::unique_ptr<Stmt> MakeStmt(Stmt::Kind kind, int line) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = line;
    return s;
  }

  // Consumes `{% name` of an end or middle tag that Subparse stopped at; returns the name.
  std::string TakeTag() {
    Next();
    return Next().value;
  }

  void ParseStatement(Body& out) {
    int line = Cur().line;
    if (Cur().kind != TokenKind::kName) Fail("expected a tag name, got " + Describe(Cur()));
    std::string tag = Next().value;
    if (tag == "if") {
      auto s = MakeStmt(Stmt::Kind::kIf, line);
      ExprPtr cond = ParseTuple(false, false, {});
      while (true) {
        ExpectBlockEnd();
        Body body = Subparse({"elif", "else", "endif"});
        s->branches.emplace_back(std::move(cond), std::move(body));
        std::string next = TakeTag();
        if (next == "elif") {
          cond = ParseTuple(false, false, {});
          continue;
        }
        if (next == "else") {
          ExpectBlockEnd();
          s->branches.emplace_back(nullptr, Subparse({"endif"}));
          TakeTag();
        }
        ExpectBlockEnd();
        break;
      }
      out.push_back(std::move(s));
    } else if (tag == "for") {
      auto s = MakeStmt(Stmt::Kind::kFor, line);
      s->target = ParseTarget(false, "in");
      ExpectName("in");
      s->expr = ParseTuple(false, false, {"recursive"});
      if (SkipName("if")) s->filter = ParseExpression(true);
      if (IsName(Cur(), "recursive")) Fail("recursive for loops are not supported");
      ExpectBlockEnd();
      ++loop_depth_;
      s->body = Subparse({"endfor", "else"});
      --loop_depth_;
      if (TakeTag() == "else") {
        ExpectBlockEnd();
        s->else_body = Subparse({"endfor"});
        TakeTag();
      }
      ExpectBlockEnd();
      out.push_back(std::move(s));
    } else if (tag == "set") {
      Target target = ParseTarget(true, "");
      if (SkipOp("=")) {
        auto s = MakeStmt(Stmt::Kind::kSet, line);
        s->target = std::move(target);
        s->expr = ParseTuple(true, false, {});
        ExpectBlockEnd();
        out.push_back(std::move(s));
        return;
      }
      auto s = MakeStmt(Stmt::Kind::kSetBlock, line);
      s->target = std::move(target);
      if (SkipOp("|")) s->filter_chain = ParseFilterChain();
      ExpectBlockEnd();
      s->body = Subparse({"endset"});
      TakeTag();
      ExpectBlockEnd();
      out.push_back(std::move(s));
    } else if (tag == "macro") {
      auto s = MakeStmt(Stmt::Kind::kMacro, line);
      s->name = ExpectIdentifier();
      ExpectOp("(");
      while (!SkipOp(")")) {
        if (!s->params.empty()) ExpectOp(",");
        if (SkipOp(")")) break;
        MacroParam p;
        p.name = ExpectIdentifier();
        if (SkipOp("=")) p.default_value = ParseExpression(true);
        s->params.push_back(std::move(p));
      }
      ExpectBlockEnd();
      int saved_loops = loop_depth_;
      loop_depth_ = 0;
      s->body = Subparse({"endmacro"});
      loop_depth_ = saved_loops;
      TakeTag();
      if (Cur().kind == TokenKind::kName) Next();  // {% endmacro name %}
      ExpectBlockEnd();
      out.push_back(std::move(s));
    } else if (tag == "filter") {
      auto s = MakeStmt(Stmt::Kind::kFilterBlock, line);
      s->filter_chain = ParseFilterChain();
      ExpectBlockEnd();
      s->body = Subparse({"endfilter"});
      TakeTag();
      ExpectBlockEnd();
      out.push_back(std::move(s));
    } else if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) Fail("'" + tag + "' outside of a for loop");
      out.push_back(MakeStmt(tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue, line));
      ExpectBlockEnd();
    } else if (tag == "generation") {  // transformers' assistant-mask marker: a block with no filters
      auto s = MakeStmt(Stmt::Kind::kFilterBlock, line);
      ExpectBlockEnd();
      s->body = Subparse({"endgeneration"});
      TakeTag();
      ExpectBlockEnd();
      out.push_back(std::move(s));
    } else {
      throw SyntaxError{line, "unknown tag '" + tag + "'"};
    }
  }

  // What set or for assigns to: `name`, `a, b` or `(a, b)`; with `allow_namespace` (set) also `ns.attr`.
  Target ParseTarget(bool allow_namespace, std::string_view end_name) {
    Target t;
    if (allow_namespace && Cur().kind == TokenKind::kName && IsOp(Look(), ".")) {
      t.names.push_back(Next().value);
      Next();
      t.attribute = ExpectIdentifier();
      return t;
    }
    bool parens = SkipOp("(");
    while (true) {
      t.names.push_back(ExpectIdentifier());
      if (!SkipOp(",")) break;
      t.is_tuple = true;
      if (IsOp(Cur(), ")") || IsOp(Cur(), "=") || (!end_name.empty() && IsName(Cur(), end_name))) break;
    }
    if (parens) {
      ExpectOp(")");
      t.is_tuple = t.is_tuple || t.names.size() > 1;
    }
    return t;
  }

  // `a(args) | b | ...` of a filter or set block.
  std::vector<ExprPtr> ParseFilterChain() {
    std::vector<ExprPtr> chain;
    chain.push_back(ParseFilterCall(nullptr));
    while (SkipOp("|")) chain.push_back(ParseFilterCall(nullptr));
    return chain;
  }

  int loop_depth_ = 0;
};

}  // namespace

Result<Body> Parse(std::string_view source) {
  Result<std::vector<Token>> tokens = Tokenize(source);
  if (!tokens.ok()) return tokens.status();
  try {
    return Parser(std::move(tokens).value()).ParseTemplate();
  } catch (const SyntaxError& e) {
    return Status::InvalidArgument("template syntax error at line " + std::to_string(e.line) + ": " + e.message);
  }
}

}  // namespace mixserve::model::jinja
