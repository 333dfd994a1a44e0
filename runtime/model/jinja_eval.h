// The tree-walking interpreter behind jinja::Template::Render: runs statements, evaluates
// expressions, keeps jinja2's scopes, loop variables and macro calls.
#pragma once

#include <string>

#include "runtime/model/jinja_ast.h"
#include "runtime/model/jinja_value.h"

namespace mixserve::model::jinja {

// The text `body` renders to with `variables` (over the globals) in scope.
// Throws jinja::Error on a render-time failure; Template::Render turns that into a Status.
std::string Execute(const Body& body, const DictData& variables);

}  // namespace mixserve::model::jinja
