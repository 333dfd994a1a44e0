// jinja2's builtin tests (`value is name(args)`) and the globals Hugging Face's chat-template
// environment defines: range, dict, namespace, raise_exception and strftime_now.
#pragma once

#include <string>

#include "runtime/model/jinja_value.h"

namespace mixserve::model::jinja {

bool HasTest(const std::string& name);
bool ApplyTest(const std::string& name, const Value& input, const CallArgs& args);

// The global variables every render starts with.
DictData Globals();

}  // namespace mixserve::model::jinja
