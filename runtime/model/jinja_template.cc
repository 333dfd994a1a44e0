#include "runtime/model/jinja_template.h"

#include <exception>

#include "runtime/model/jinja_builtins.h"
#include "runtime/model/jinja_eval.h"
#include "runtime/model/jinja_filters.h"
#include "runtime/model/jinja_parser.h"

namespace mixserve::model::jinja {
namespace {

// jinja2 refuses unknown filter and test names when it compiles a template; so do we.
Status CheckNames(const Expr* e) {
  if (!e) return Status::Ok();
  if (e->kind == Expr::Kind::kFilter && !HasFilter(e->name)) {
    return Status::InvalidArgument("template error at line " + std::to_string(e->line) + ": no filter named '" +
                                   e->name + "'");
  }
  if (e->kind == Expr::Kind::kTest && !HasTest(e->name)) {
    return Status::InvalidArgument("template error at line " + std::to_string(e->line) + ": no test named '" +
                                   e->name + "'");
  }
  for (const auto& a : e->args)
    if (Status s = CheckNames(a.get()); !s.ok()) return s;
  for (const auto& kv : e->kwargs)
    if (Status s = CheckNames(kv.second.get()); !s.ok()) return s;
  return Status::Ok();
}

Status CheckNames(const Body& body) {
  for (const auto& s : body) {
    for (const Expr* e : {s->expr.get(), s->filter.get()})
      if (Status st = CheckNames(e); !st.ok()) return st;
    for (const auto& f : s->filter_chain)
      if (Status st = CheckNames(f.get()); !st.ok()) return st;
    for (const auto& p : s->params)
      if (Status st = CheckNames(p.default_value.get()); !st.ok()) return st;
    for (const auto& [cond, branch] : s->branches) {
      if (Status st = CheckNames(cond.get()); !st.ok()) return st;
      if (Status st = CheckNames(branch); !st.ok()) return st;
    }
    for (const Body* b : {&s->body, &s->else_body})
      if (Status st = CheckNames(*b); !st.ok()) return st;
  }
  return Status::Ok();
}

}  // namespace

Result<Template> Template::Parse(std::string_view source) {
  Result<Body> body = jinja::Parse(source);
  if (!body.ok()) return body.status();
  if (Status s = CheckNames(*body); !s.ok()) return s;
  return Template(std::make_shared<const Body>(std::move(body).value()));
}

Result<std::string> Template::Render(const DictData& variables) const {
  try {
    return Execute(*body_, variables);
  } catch (const Error& e) {
    return Status::InvalidArgument(e.what);
  } catch (const std::exception& e) {  // e.g. bad_alloc from a template that builds a huge string
    return Status::Internal(std::string("rendering failed: ") + e.what());
  }
}

}  // namespace mixserve::model::jinja
