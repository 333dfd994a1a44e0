// jinja2's builtin filters: `value | name(args)`.
//
// tojson is Hugging Face's version: json.dumps without HTML escaping, ensure_ascii off, and
// indent, separators and sort_keys accepted. Filters that render HTML or text layouts chat
// templates do not use (urlize, wordwrap, xmlattr, groupby, batch, ...) are not provided.
#pragma once

#include <string>

#include "runtime/model/jinja_value.h"

namespace mixserve::model::jinja {

bool HasFilter(const std::string& name);
Value ApplyFilter(const std::string& name, const Value& input, const CallArgs& args);

}  // namespace mixserve::model::jinja
