// Splits a Jinja template into tokens the way jinja2's lexer does in Hugging Face's environment
// (trim_blocks and lstrip_blocks on, no trailing newline kept).
//
// Whitespace control is settled here, so text tokens arrive final: `{%-`/`-%}` (and the `{{`,
// `{#` forms) strip all whitespace on that side; `%}` and `#}` drop one following newline; a
// block or comment tag alone on its line takes the line's indentation with it unless written
// `{%+`; `+%}` keeps the newline. `{% raw %}...{% endraw %}` becomes one text token.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/status.h"

namespace mixserve::model::jinja {

enum class TokenKind {
  kText,
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,
  kString,  // value holds the unescaped text
  kInteger,
  kFloat,
  kOperator,  // + - * / // % ** ~ == != < <= > >= = . , : | ( ) [ ] { }
  kEnd,
};

struct Token {
  TokenKind kind;
  std::string value;
  int line;
};

// The tokens of `source`, ending with kEnd; a malformed template is InvalidArgument naming the line.
Result<std::vector<Token>> Tokenize(std::string_view source);

}  // namespace mixserve::model::jinja
