// Lua 5.1 string patterns, as used by Kong's `match`, `not_match`, `match_all`, `match_none` and
// `match_any` schema validators (`value:match(pattern)` in LuaJIT).
//
// Supported: `.`, classes %a %c %d %l %p %s %u %w %x %z (upper case = complement), `%<punct>`
// escapes, sets `[...]` with ranges, classes and `^` negation, quantifiers `*` `+` `-` `?`,
// anchors `^` (pattern start) and `$` (pattern end), captures `(...)` / `()`, back-references
// %1-%9, balanced matches %bxy and frontiers %f[set]. Like Lua, `%` followed by any other letter
// matches that letter.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sb::config {

// Empty when `pattern` is well-formed, else an error in Lua's words (e.g. "malformed pattern
// (missing ']')"). Patterns longer than kLuaPatternMaxLength are rejected.
std::string lua_pattern_error(std::string_view pattern);
inline constexpr size_t kLuaPatternMaxLength = 1024;

enum class LuaMatch {
  kNoMatch,
  kMatch,
  kError,  // malformed pattern, or the step budget ran out (pathological backtracking)
};

// Whether `subject:match(pattern)` would find a match. `step_budget` bounds backtracking work;
// *steps_used (when given) receives the work done.
LuaMatch lua_pattern_match(std::string_view subject, std::string_view pattern,
                           size_t step_budget = 1'000'000, size_t* steps_used = nullptr);

}  // namespace sb::config
