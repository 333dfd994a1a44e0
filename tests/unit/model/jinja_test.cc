// The Jinja interpreter behind chat templates, case by case: each table row is a template, the
// variables it renders with (JSON) and what jinja2 renders in Hugging Face's environment
// (trim_blocks, lstrip_blocks, immutable sandbox): the text, or "ERROR: " and the message jinja2
// raises. tests/unit/test_chat_templates.py compares whole model templates the same way.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "runtime/model/jinja_template.h"
#include "runtime/model/jinja_value.h"

namespace mixserve::model::jinja {
namespace {

struct Case {
  const char* name;
  const char* source;
  const char* vars;  // a JSON object
  const char* expected;
};

std::string Render(const std::string& source, const std::string& vars_json) {
  Result<Template> t = Template::Parse(source);
  if (!t.ok()) return "PARSE ERROR: " + t.status().message();
  DictData vars;
  const nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(vars_json);
  for (const auto& [k, v] : parsed.items()) vars.Set(k, Value::FromJson(v));
  Result<std::string> out = t->Render(vars);
  if (!out.ok()) return "ERROR: " + out.status().message();
  return *out;
}

void RunCases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Render(c.source, c.vars), c.expected) << "template: " << c.source;
  }
}

TEST(JinjaExpressions, OperatorsAndPrecedence) {
  RunCases({
      {"arithmetic", R"j({{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 4 / 2 }})j", "{}",
       R"j(7 9 3 -4 2 3.5 2.0)j"},
      {"power is left-associative in jinja", R"j({{ 2 ** 3 ** 2 }} {{ 2 ** -1 }})j", "{}", R"j(64 0.5)j"},
      {"int and float mix", R"j({{ 1 + 1.5 }} {{ 3 * 0.1 }} {{ 1e3 }} {{ 1_000 + 1 }} {{ 0.1 + 0.2 }})j", "{}",
       R"j(2.5 0.30000000000000004 1000.0 1001 0.30000000000000004)j"},
      {"bool is an int", R"j({{ true + 1 }} {{ 1 == true }} {{ 1.0 == 1 }})j", "{}", R"j(2 True True)j"},
      {"string and list concatenation", R"j({{ 'a' + 'b' }} {{ [1] + [2, 3] }} {{ 'ab' * 3 }} {{ 'x' ~ 1 ~ none ~ true ~ nothing }})j", "{}",
       R"j(ab [1, 2, 3] ababab x1NoneTrue)j"},
      {"filters bind tighter than operators", R"j({{ messages|length - 1 }} {{ -1|abs }} {{ 'a' ~ 'B'|lower }})j",
       R"j({"messages": [1, 2, 3]})j", R"j(2 1 ab)j"},
      {"chained comparison", R"j({{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 2 >= 2 }})j", "{}",
       R"j(True False True True True)j"},
      {"in and not in", R"j({{ 'ell' in 'hello' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 1 in nothing }})j",
       "{}", R"j(True True True True False)j"},
      {"and/or return an operand", R"j({{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }}|{{ none or [] }} {{ not 0 }} {{ not [1] }})j",
       "{}", R"j(x b |[] True False)j"},
      {"ternary", R"j({{ 'yes' if 1 else 'no' }} {{ 'yes' if 0 else 'no' }} [{{ 'only' if false }}] {{ 1 if 0 else 2 if 0 else 3 }})j",
       "{}", R"j(yes no [] 3)j"},
      {"string literal escapes", R"j({{ 'a\nb' }}|{{ "q\"q" }}|{{ 'it\'s' }}|{{ '\u00e9\x41\t' }}|{{ 'unknown \q' }}|{{ 'a' 'b' }})j",
       "{}", "a\nb|q\"q|it's|\u00e9A\t|unknown \\q|ab"},
      {"literals", R"j({{ [1, 'two', 3.0, none, true] }} {{ {'a': 1, 'b': [2]} }} {{ (1,) }} {{ (1, 2) }} {{ () }})j", "{}",
       R"j([1, 'two', 3.0, None, True] {'a': 1, 'b': [2]} (1,) (1, 2) ())j"},
      {"repr of strings in containers", R"j({{ ["it's", 'say "hi"', 'both \' "', 'tab\there', 'é'] }})j", "{}",
       R"j(["it's", 'say "hi"', 'both \' "', 'tab\there', 'é'])j"},
      {"float repr", R"j({{ 1.0 }} {{ 1e16 }} {{ 1e-5 }} {{ 0.0001 }} {{ 123456789.125 }} {{ -0.5 }} {{ 1e22 }})j", "{}",
       R"j(1.0 1e+16 1e-05 0.0001 123456789.125 -0.5 1e+22)j"},
  });
}

TEST(JinjaExpressions, SubscriptsAttributesAndMethods) {
  const char* chat = R"j({"messages": [{"role": "system", "content": "  Be brief.  "},
                                        {"role": "user", "content": "Hi\nthere"}],
                         "d": {"items": "key named items", "k": 1}, "s": "héllo wörld"})j";
  RunCases({
      {"attribute and item access", R"j({{ messages[0].role }} {{ messages[1]['content'] | length }} {{ messages[-1].role }})j", chat,
       R"j(system 8 user)j"},
      {"slices", R"j({{ messages[1:] | length }} {{ [1, 2, 3][::-1] }} {{ [1, 2, 3][:-1] }} {{ [1, 2, 3, 4][1::2] }} {{ s[1:4] }} {{ s[::-1] }})j",
       chat, R"j(1 [3, 2, 1] [1, 2] [2, 4] éll dlröw olléh)j"},
      {"attribute prefers the method, subscript the key", R"j({{ d['items'] }}|{{ d.items() | list }}|{{ d.k }})j", chat,
       R"j(key named items|[('items', 'key named items'), ('k', 1)]|1)j"},
      {"string methods", R"j({{ messages[0].content.strip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }})j",
       chat, R"j(Be brief.|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|['a b', 'c'])j"},
      {"more string methods", R"j({{ 'xxhixx'.strip('x') }} {{ '<a>'.startswith('<') }} {{ 'a.py'.endswith(('.js', '.py')) }} {{ 'Hello World'.upper() }} {{ 'ÉCOLE'.lower() }} {{ 'hello world'.title() }} {{ 'aXbX'.replace('X', '-') }} {{ 'abcb'.find('b') }} {{ 'abcb'.rfind('b') }} {{ 'abcb'.count('b') }} {{ '-'.join(['a', 'b']) }})j",
       "{}", R"j(hi True True HELLO WORLD école Hello World a-b- 1 3 2 a-b)j"},
      {"unicode whitespace", R"j([{{ '\u00a0 x\u3000'.strip() }}] {{ 'a\u2028b'.split() }} {{ 'a\nb\r\nc'.splitlines() }})j", "{}",
       R"j([x] ['a', 'b'] ['a', 'b', 'c'])j"},
      {"dict methods", R"j({{ d.keys() | list }} {{ d.values() | list }} {{ d.get('k') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }})j",
       chat, R"j(['items', 'k'] ['key named items', 1] 1 dflt None)j"},
      {"list methods", R"j({{ [1, 2, 3].index(2) }} {{ [1, 2, 2].count(2) }})j", "{}", R"j(1 2)j"},
      {"missing things print as nothing", R"j([{{ nothing }}][{{ d.missing }}][{{ messages[5] }}][{{ none.attr }}])j", chat, R"j([][][][])j"},
  });
}

TEST(JinjaFilters, Builtins) {
  const char* data = R"j({"msgs": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                   {"role": "user", "content": "c", "name": "x"}],
                          "obj": {"b": 1, "a": [1, "é", {"c": null}], "s": "<tag> & \"q\""}})j";
  RunCases({
      {"trim length string case", R"j([{{ '  x \n'|trim }}] {{ 'xyx'|trim('x') }} {{ 'héllo'|length }} {{ [1, 2]|count }} {{ 12|string + '3' }} {{ 'aBc'|upper }}{{ 'aBc'|lower }} {{ 'hELLO wORLD'|capitalize }} {{ 'hello-world foo'|title }})j",
       "{}", R"j([x] y 5 2 123 ABCabc Hello world Hello-World Foo)j"},
      {"tojson keeps order and non-ASCII, no HTML escaping", R"j({{ obj|tojson }})j", data,
       R"j({"b": 1, "a": [1, "é", {"c": null}], "s": "<tag> & \"q\""})j"},
      {"tojson options", R"j({{ {'b': [1, {}], 'a': []}|tojson(indent=2, sort_keys=true) }}|{{ [1, 2]|tojson(separators=(',', ':')) }}|{{ 'é'|tojson(ensure_ascii=true) }})j",
       "{}", "{\n  \"a\": [],\n  \"b\": [\n    1,\n    {}\n  ]\n}|[1,2]|\"\\u00e9\""},
      {"first last join", R"j({{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} {{ [1, none, 'x']|join('-') }} {{ msgs|join(',', attribute='role') }} [{{ []|first }}])j",
       data, R"j(1 3 a 1-None-x user,assistant,user [])j"},
      {"default", R"j({{ nothing|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ none|d('n', true) }} {{ 0|default(5) }})j",
       "{}", R"j(d  d n 0)j"},
      {"items dictsort list", R"j({{ obj|items|map(attribute=0)|list }} {{ {'b': 2, 'a': 1}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value', reverse=true) }} {{ 'ab'|list }} {{ nothing|items|list }})j",
       data, R"j(['b', 'a', 's'] [('a', 1), ('b', 2)] [('a', 2), ('b', 1)] ['a', 'b'] [])j"},
      {"select reject map", R"j({{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join }} {{ msgs|rejectattr('role', '==', 'user')|list|length }} {{ msgs|selectattr('name')|map(attribute='content')|first }} {{ [0, 1, 2, 3]|select('odd')|list }} {{ [0, 1, '']|reject|list }} {{ ['a', 'b']|map('upper')|join }} {{ msgs|map(attribute='name', default='-')|join }})j",
       data, R"j(ac 1 c [1, 3] [0, ''] AB --x)j"},
      {"sort unique min max sum reverse", R"j({{ ['b', 'A', 'a']|sort }} {{ ['b', 'A', 'a']|sort(case_sensitive=true) }} {{ msgs|sort(attribute='content', reverse=true)|map(attribute='content')|join }} {{ ['a', 'A', 'b']|unique|list }} {{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }} {{ [1, 2, 3]|sum }} {{ [[1], [2]]|sum(start=[]) }} {{ [1, 2]|reverse|list }} {{ 'abc'|reverse }})j",
       data, R"j(['A', 'a', 'b'] ['A', 'a', 'b'] cba ['a', 'b'] 1 3 6 [1, 2] [2, 1] cba)j"},
      {"numbers", R"j({{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(-1) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.567|round(2) }} {{ 2.1|round(0, 'ceil') }} {{ -3|abs }})j",
       "{}", R"j(42 4 0 -1 3 2.5 2.0 4.0 2.57 3.0 3)j"},
      {"replace indent escape", R"j({{ 'aaa'|replace('a', 'b', 2) }}|{{ 'x\ny\n\nz'|indent(2) }}|{{ 'x\ny'|indent('> ', first=true) }}|{{ '<a href="x">'|e }})j",
       "{}", "bba|x\n  y\n\n  z|> x\n> y|&lt;a href=&#34;x&#34;&gt;"},
  });
}

TEST(JinjaTests, IsTests) {
  RunCases({
      {"kinds", R"j({{ x is defined }} {{ nothing is defined }} {{ nothing is undefined }} {{ none is none }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is mapping }} {{ 1 is number }} {{ true is number }} {{ true is integer }} {{ 1.0 is float }} {{ [] is iterable }} {{ 1 is iterable }} {{ 'a' is sequence }})j",
       R"j({"x": 1})j", R"j(True False True True True True False True True False True True False True)j"},
      {"booleans and comparisons", R"j({{ false is false }} {{ 0 is false }} {{ true is true }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 2 is eq 2 }} {{ 'user' is equalto 'user' }} {{ 1 is lt 2 }} {{ 1 is ge 2 }} {{ 'a' is in 'abc' }} {{ none is sameas none }} {{ 'abc' is lower }} {{ 'AB1' is upper }})j",
       "{}", R"j(True False True True True True True True True False True True True True)j"},
      {"is not", R"j({{ x is not none }} {{ x is not defined }} {{ not x is defined }})j", R"j({"x": null})j", R"j(False False False)j"},
  });
}

TEST(JinjaStatements, LoopsAndScopes) {
  const char* data = R"j({"items": ["a", "b", "c"], "d": {"k1": 1, "k2": 2}})j";
  RunCases({
      {"loop variables", R"j({% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first|int }}{{ loop.last|int }}{{ loop.length }} {% endfor %})j",
       data, R"j(1032103 2121003 3210013 )j"},
      {"previtem nextitem cycle", R"j({% for x in items %}[{{ loop.previtem }}|{{ loop.nextitem }}|{{ loop.cycle('odd', 'even') }}]{% endfor %})j",
       data, R"j([|b|odd][a|c|even][b||odd])j"},
      {"for else and filter", R"j({% for x in [] %}x{% else %}empty{% endfor %} {% for x in items if x != 'b' %}{{ x }}{{ loop.index }}/{{ loop.length }} {% endfor %})j",
       data, R"j(empty a1/2 c2/2 )j"},
      {"tuple unpacking over items", R"j({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %})j",
       data, R"j(k1=1;k2=2;k1k2)j"},
      {"break and continue", R"j({% for x in items %}{% if x == 'b' %}{% continue %}{% endif %}{% if x == 'c' %}{% break %}{% endif %}{{ x }}{% endfor %}|{% for x in [1, 2, 3] %}{% for y in [1, 2] %}{% if y == 2 %}{% break %}{% endif %}{{ x }}{{ y }}{% endfor %}{% endfor %})j",
       data, R"j(a|112131)j"},
      {"set in a loop stays in the iteration", R"j({% set x = 'outer' %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}({{ x }}){% endfor %}[{{ x }}])j",
       "{}", R"j([outer](1)[outer](2)[outer])j"},
      {"if does not open a scope", R"j({% if true %}{% set y = 3 %}{% endif %}{{ y }})j", "{}", R"j(3)j"},
      {"namespace carries state out of loops", R"j({% set ns = namespace(found=false, n=0) %}{% for x in items %}{% if x == 'b' %}{% set ns.found = true %}{% endif %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.found }} {{ ns.n }} {{ ns }})j",
       data, R"j(True 3 <Namespace {'found': True, 'n': 3}>)j"},
      {"set forms", R"j({% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t %}block {{ a }}{% endset %}{{ t }} {% set u | upper %}shout{% endset %}{{ u }} {% filter upper %}f{{ b }}{% endfilter %})j",
       "{}", R"j(12 block 1 SHOUT F2)j"},
      {"nested loop shadows loop", R"j({% for a in [1, 2] %}{% for b in [1] %}{{ loop.length }}{% endfor %}{{ loop.length }}{% endfor %})j",
       "{}", R"j(1212)j"},
      {"macros", R"j({% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }} {{ greet }})j",
       "{}", R"j(Hi A! Hi B? Hi C. <Macro 'greet'>)j"},
      {"recursive macro", R"j({% macro count(n) %}{{ n }}{% if n > 0 %}{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(3) }})j", "{}",
       R"j(3210)j"},
      {"generation block renders its body in its own scope", R"j({% set x = 1 %}{% generation %}kept {{ x }}{% set x = 2 %}{% endgeneration %} {{ x }})j", "{}", R"j(kept 1 1)j"},
      {"range dict", R"j({{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(3, 0, -1)|list }} {{ dict(a=1, b=2) }})j", "{}",
       R"j([0, 1, 2] [1, 3, 5] [3, 2, 1] {'a': 1, 'b': 2})j"},
  });
}

TEST(JinjaWhitespace, Control) {
  RunCases({
      {"trim_blocks drops the newline after a block tag", "{% if true %}\nA\n{% endif %}\nB", "{}", "A\nB"},
      {"lstrip_blocks drops a block tag's indentation", "<\n    {% if true %}\n    x\n    {% endif %}\n>", "{}", "<\n    x\n>"},
      {"variables keep their surroundings", "  {{ 1 }}  \n{{ 2 }}\n", "{}", "  1  \n2"},
      {"minus strips all whitespace on its side", "a  \n {%- if true -%} \n\n b {{- ' c ' -}}  \n d{% endif %}", "{}", "ab c d"},
      {"plus keeps indentation and the newline", "x\n  {%+ if true +%}\ny{% endif %}", "{}", "x\n  \ny"},
      {"comments are trimmed like blocks", "a\n  {# note #}\nb {#- x -#} c", "{}", "a\nbc"},
      {"raw blocks are literal", "{% raw %}{{ not }} {% evaluated %}{% endraw %}", "{}", "{{ not }} {% evaluated %}"},
      {"line endings are normalised and one final newline dropped", "a\r\nb\rc\n\n", "{}", "a\nb\nc\n"},
      {"tag not alone on its line keeps the text before it", "x {% if true %}y{% endif %}", "{}", "x y"},
      {"lstrip at the very start", "   {% if true %}z{% endif %}", "{}", "z"},
  });
}

TEST(JinjaErrors, RuntimeErrorsAreJinja2Messages) {
  const char* chat = R"j({"m": {"role": "user"}, "l": [1], "n": null})j";
  RunCases({
      {"raise_exception", R"j({{ raise_exception('Only user and assistant roles are supported!') }})j", "{}",
       "ERROR: Only user and assistant roles are supported!"},
      {"raise_exception after output", R"j(text {% if true %}{{ raise_exception('bad ' ~ 1) }}{% endif %})j", "{}", "ERROR: bad 1"},
      {"missing key used", R"j({{ '[INST] ' + m['content'] }})j", chat, "ERROR: 'dict object' has no attribute 'content'"},
      {"missing variable used", R"j({{ nothing + 1 }})j", "{}", "ERROR: 'nothing' is undefined"},
      {"attribute of a missing variable", R"j({{ nothing.x }})j", "{}", "ERROR: 'nothing' is undefined"},
      {"index out of range used", R"j({{ l[3] + 1 }})j", chat, "ERROR: list object has no element 3"},
      {"str plus none", R"j({{ 'a' + n }})j", chat, "ERROR: can only concatenate str (not \"NoneType\") to str"},
      {"int plus str", R"j({{ 1 + 'a' }})j", "{}", "ERROR: unsupported operand type(s) for +: 'int' and 'str'"},
      {"in none", R"j({{ 'x' in n }})j", chat, "ERROR: argument of type 'NoneType' is not iterable"},
      {"ordering mixed types", R"j({{ 'a' < 1 }})j", "{}", "ERROR: '<' not supported between instances of 'str' and 'int'"},
      {"iterate none", R"j({% for x in n %}{% endfor %})j", chat, "ERROR: 'NoneType' object is not iterable"},
      {"len of none", R"j({{ n|length }})j", chat, "ERROR: object of type 'NoneType' has no len()"},
      {"mutating methods are refused", R"j({{ l.append(2) }})j", chat, "ERROR: access to attribute 'append' of 'list' object is unsafe."},
      {"namespace only", R"j({% set x = 1 %}{% set x.y = 2 %})j", "{}", "ERROR: cannot assign attribute on non-namespace object"},
      {"unpacking", R"j({% set a, b = [1] %})j", "{}", "ERROR: not enough values to unpack (expected 2, got 1)"},
      {"division by zero", R"j({{ 1 / 0 }})j", "{}", "ERROR: division by zero"},
      {"tojson of undefined", R"j({{ nothing|tojson }})j", "{}", "ERROR: Object of type Undefined is not JSON serializable"},
      {"missing macro argument used", R"j({% macro f(a) %}{{ a + 1 }}{% endmacro %}{{ f() }})j", "{}",
       "ERROR: parameter 'a' was not provided"},
      {"too many macro arguments", R"j({% macro f(a) %}{% endmacro %}{{ f(1, 2) }})j", "{}",
       "ERROR: macro 'f' takes not more than 1 argument(s)"},
      {"calling a string", R"j({{ 'a'() }})j", "{}", "ERROR: 'str' object is not callable"},
      {"summing strings", R"j({{ ['a', 'b']|sum(start='') }})j", "{}", "ERROR: sum() can't sum strings [use ''.join(seq) instead]"},
  });
}

TEST(JinjaErrors, RuntimeErrorIsInvalidArgument) {
  Result<Template> t = Template::Parse("{{ raise_exception('no system role') }}");
  ASSERT_TRUE(t.ok()) << t.status().message();
  Result<std::string> out = t->Render(DictData());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(out.status().message(), "no system role");
}

TEST(JinjaErrors, SyntaxErrorsNameTheLine) {
  struct SyntaxCase {
    const char* source;
    const char* message;
  };
  const SyntaxCase cases[] = {
      {"line 1\n{{ x }\nline 3", "template syntax error at line 2: unexpected '}'"},
      {"{% for x in y %}\n\n{{ x }}", "template syntax error at line 3: unexpected end of template, expected 'endfor' or 'else'"},
      {"a\nb\n{% frobnicate %}", "template syntax error at line 3: unknown tag 'frobnicate'"},
      {"{% if %}", "template syntax error at line 1: expected an expression, got '%}'"},
      {"\n{{ 'unterminated }}", "template syntax error at line 2: unterminated string literal"},
      {"{# never closed", "template syntax error at line 1: missing end of comment tag"},
      {"\n\n{{ x | no_such_filter }}", "template error at line 3: no filter named 'no_such_filter'"},
      {"{% if x is no_such_test %}{% endif %}", "template error at line 1: no test named 'no_such_test'"},
      {"{% break %}", "template syntax error at line 1: 'break' outside of a for loop"},
      {"{{ (1, 2 }}", "template syntax error at line 1: unexpected '}', expected ')'"},
      {"{% if x %}{% endfor %}", "template syntax error at line 1: unknown tag 'endfor'"},
  };
  for (const SyntaxCase& c : cases) {
    SCOPED_TRACE(c.source);
    Result<Template> t = Template::Parse(c.source);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(t.status().message(), c.message);
  }
}

TEST(JinjaErrors, RunawayMacroRecursionStops) {
  // Python's own wording varies with where the limit is hit; the message must start the same way.
  std::string out = Render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "{}");
  EXPECT_EQ(out.rfind("ERROR: maximum recursion depth exceeded", 0), 0u) << out;
}

TEST(JinjaValue, PythonFormatting) {
  EXPECT_EQ(FormatFloat(0.1), "0.1");
  EXPECT_EQ(FormatFloat(100.0), "100.0");
  EXPECT_EQ(FormatFloat(1e15), "1000000000000000.0");
  EXPECT_EQ(FormatFloat(1e16), "1e+16");
  EXPECT_EQ(FormatFloat(1.5e-7), "1.5e-07");
  EXPECT_EQ(FormatFloat(-0.0), "-0.0");
  EXPECT_EQ(Value(std::string("a\x01'")).Repr(), "\"a\\x01'\"");
  EXPECT_EQ(Value(std::string("nb\u00a0sp")).Repr(), "'nb\\xa0sp'");
  EXPECT_EQ(ToJson(Value::FromJson(nlohmann::ordered_json::parse(R"({"z": [1.0, "\u0001"], "a": true})")), {}),
            "{\"z\": [1.0, \"\\u0001\"], \"a\": true}");
}

}  // namespace
}  // namespace mixserve::model::jinja
