// Parses Jinja template source into a syntax tree (jinja_ast.h), following jinja2's grammar and
// operator precedence for the subset chat templates use.
//
// Statements: if/elif/else, for (tuple targets, `if` filter, else), set (plain, tuple, ns.attr
// and block form), macro, filter blocks, break/continue, and Hugging Face's generation block,
// which renders its body in a scope of its own. Unknown tags and malformed expressions are InvalidArgument
// naming the line: "template syntax error at line 3: ...".
#pragma once

#include <string_view>

#include "runtime/base/status.h"
#include "runtime/model/jinja_ast.h"

namespace mixserve::model::jinja {

Result<Body> Parse(std::string_view source);

}  // namespace mixserve::model::jinja
