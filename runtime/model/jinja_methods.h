// The methods templates call on values: str (strip, split, startswith, ...), dict (items, get,
// keys, values) and list (index, count). Looking one up gives a callable bound to the value, as
// `text.strip` does in Python.
#pragma once

#include <optional>
#include <string>

#include "runtime/model/jinja_value.h"

namespace mixserve::model::jinja {

// The bound method `obj.name`, nullopt when `obj` has no such method. A method that would modify
// a list or dict gives the undefined that Hugging Face's immutable sandbox puts in its place.
std::optional<Value> BoundMethod(const Value& obj, const std::string& name);

}  // namespace mixserve::model::jinja
