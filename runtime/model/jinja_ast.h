// The syntax tree of a parsed Jinja template: expressions (Expr) and statements (Stmt).
//
// Nodes are plain tagged structs owned through unique_ptr; which fields a node uses depends on
// its kind (listed beside each field). The parser builds them, the interpreter only reads them.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/model/jinja_value.h"

namespace mixserve::model::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,   // value
    kName,      // name
    kList,      // args: items
    kTuple,     // args: items
    kDict,      // args: key0, value0, key1, value1, ...
    kAttr,      // args[0].name
    kItem,      // args[0][args[1]]
    kSlice,     // args[0][args[1]:args[2]:args[3]]; a missing bound is null
    kCall,      // args[0](args[1..], kwargs)
    kFilter,    // args[0] | name(args[1..], kwargs)
    kTest,      // args[0] is [not] name(args[1..], kwargs)
    kUnary,     // name ("-", "+", "not") args[0]
    kBinary,    // args[0] name args[1]: + - * / // % ** ~ and or
    kCompare,   // args[0] ops[0] args[1] ops[1] args[2] ...: == != < <= > >= in notin
    kCondition, // args[1] if args[0] else args[2] (args[2] null when there is no else)
  };
  Kind kind;
  int line = 0;
  Value value;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;  // kTest written `is not`
};

// What a `set` or `for` assigns to: one name, several names (tuple unpacking), or ns.attr.
struct Target {
  std::vector<std::string> names;
  std::string attribute;  // non-empty for `ns.attr`: names[0] is the namespace variable
  bool is_tuple = false;
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null when the parameter has none
};

struct Stmt {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // branches: (condition, body)...; a final else has a null condition
    kFor,       // for target in expr [if filter] body [else else_body]
    kSet,       // set target = expr
    kSetBlock,  // set target [| filters] body endset; filters in filter_chain
    kMacro,     // macro name(params) body endmacro
    kFilterBlock,  // filter filter_chain body endfilter; also generation body endgeneration (no filters)
    kBreak,
    kContinue,
  };
  Kind kind;
  int line = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;  // kFor: the `if` after the iterable
  Target target;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::string name;
  std::vector<MacroParam> params;
  // kFilterBlock / kSetBlock: filters applied to the rendered body, innermost first; each is a
  // kFilter Expr whose args[0] is null and stands for the body's text.
  std::vector<ExprPtr> filter_chain;
};

}  // namespace mixserve::model::jinja
