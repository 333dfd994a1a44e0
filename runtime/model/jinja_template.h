// jinja::Template: a parsed Jinja template that renders with jinja2's semantics in Hugging Face's
// chat-template environment (trim_blocks, lstrip_blocks, immutable sandbox, loop controls).
//
//   Result<Template> t = Template::Parse(source);   // syntax errors name the line
//   DictData vars;  vars.Set("messages", Value::FromJson(messages));
//   Result<std::string> text = t->Render(vars);      // runtime errors: InvalidArgument
//
// Scoping follows jinja2: each for-loop iteration and each macro call gets its own scope, so a
// plain `set` inside them is not seen outside (a namespace() attribute is); `if` opens none.
// A failed render is InvalidArgument whose message is what jinja2 would raise: the template's own
// text for raise_exception(), else e.g. "'dict object' has no attribute 'content'".
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "runtime/base/status.h"
#include "runtime/model/jinja_ast.h"
#include "runtime/model/jinja_value.h"

namespace mixserve::model::jinja {

class Template {
 public:
  // Also rejects, with the line, a filter or test name that does not exist.
  static Result<Template> Parse(std::string_view source);

  // Thread-safe: renders share the syntax tree and nothing else.
  Result<std::string> Render(const DictData& variables) const;

 private:
  explicit Template(std::shared_ptr<const Body> body) : body_(std::move(body)) {}
  std::shared_ptr<const Body> body_;
};

}  // namespace mixserve::model::jinja
