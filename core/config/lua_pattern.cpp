// A backtracking matcher with the semantics of Lua 5.1's string.match (lstrlib), written for
// std::string_view (embedded NULs allowed) with a step budget instead of unbounded backtracking.
#include "config/lua_pattern.h"

#include <cctype>
#include <cstring>
#include <vector>

namespace sb::config {
namespace {

constexpr int kMaxCaptures = 32;
constexpr long kUnfinished = -1;
constexpr long kPosition = -2;

struct Failure {
  const char* message;
};

bool class_matches(unsigned char c, unsigned char cl) {
  bool res;
  switch (std::tolower(cl)) {
    case 'a':
      res = std::isalpha(c);
      break;
    case 'c':
      res = std::iscntrl(c);
      break;
    case 'd':
      res = std::isdigit(c);
      break;
    case 'l':
      res = std::islower(c);
      break;
    case 'p':
      res = std::ispunct(c);
      break;
    case 's':
      res = std::isspace(c);
      break;
    case 'u':
      res = std::isupper(c);
      break;
    case 'w':
      res = std::isalnum(c);
      break;
    case 'x':
      res = std::isxdigit(c);
      break;
    case 'z':
      res = c == 0;
      break;
    default:
      return cl == c;  // `%` + anything else is that character
  }
  return std::isupper(cl) ? !res : res;
}

class Matcher {
 public:
  Matcher(std::string_view subject, std::string_view pattern, size_t budget)
      : sb_(subject.data()),
        se_(subject.data() + subject.size()),
        pe_(pattern.data() + pattern.size()),
        budget_(budget) {}

  // Returns the end of the match starting at `s`, or nullptr. Throws Failure.
  const char* match(const char* s, const char* p) {
    while (true) {
      spend();
      if (p == pe_) return s;
      switch (*p) {
        case '(':
          if (p + 1 < pe_ && p[1] == ')') return start_capture(s, p + 2, kPosition);
          return start_capture(s, p + 1, kUnfinished);
        case ')':
          return end_capture(s, p + 1);
        case '$':
          if (p + 1 == pe_) return s == se_ ? s : nullptr;
          break;
        case '%':
          if (p + 1 < pe_ && p[1] == 'b') {
            s = balance(s, p + 2);
            if (s == nullptr) return nullptr;
            p += 4;
            continue;
          }
          if (p + 1 < pe_ && p[1] == 'f') {
            p += 2;
            if (p >= pe_ || *p != '[') throw Failure{"missing '[' after '%f' in pattern"};
            const char* ep = class_end(p);
            unsigned char prev = s == sb_ ? 0 : static_cast<unsigned char>(s[-1]);
            unsigned char cur = s < se_ ? static_cast<unsigned char>(*s) : 0;
            if (!in_set(prev, p, ep - 1) && in_set(cur, p, ep - 1)) {
              p = ep;
              continue;
            }
            return nullptr;
          }
          if (p + 1 < pe_ && std::isdigit(static_cast<unsigned char>(p[1]))) {
            s = back_reference(s, static_cast<unsigned char>(p[1]));
            if (s == nullptr) return nullptr;
            p += 2;
            continue;
          }
          break;
        default:
          break;
      }
      const char* ep = class_end(p);
      bool m = s < se_ && single(static_cast<unsigned char>(*s), p, ep);
      char q = ep < pe_ ? *ep : '\0';
      if (q == '?') {
        if (m) {
          if (const char* r = match(s + 1, ep + 1)) return r;
        }
        p = ep + 1;
        continue;
      }
      if (q == '*') return max_expand(s, p, ep);
      if (q == '+') return m ? max_expand(s + 1, p, ep) : nullptr;
      if (q == '-') return min_expand(s, p, ep);
      if (!m) return nullptr;
      ++s;
      p = ep;
    }
  }

  void reset() { level_ = 0; }
  size_t remaining() const { return budget_; }
  bool unfinished_capture() const {
    for (int k = 0; k < level_; ++k)
      if (capture_[k].len == kUnfinished) return true;
    return false;
  }

 private:
  struct Capture {
    const char* init;
    long len;
  };

  void spend() {
    if (budget_ == 0) throw Failure{"pattern too complex"};
    --budget_;
  }

  // End of the single-character class starting at p (past a `%x` or `[...]`).
  const char* class_end(const char* p) const {
    char c = *p++;
    if (c == '%') {
      if (p >= pe_) throw Failure{"malformed pattern (ends with '%')"};
      return p + 1;
    }
    if (c == '[') {
      if (p < pe_ && *p == '^') ++p;
      do {  // the first character of a set is literal, even `]`
        if (p >= pe_) throw Failure{"malformed pattern (missing ']')"};
        char x = *p++;
        if (x == '%') {
          if (p >= pe_) throw Failure{"malformed pattern (missing ']')"};
          ++p;
        }
      } while (p >= pe_ || *p != ']');
      return p + 1;
    }
    return p;
  }

  // `p` at '[', `ec` at the closing ']'.
  static bool in_set(unsigned char c, const char* p, const char* ec) {
    bool found = true;
    if (p[1] == '^') {
      found = false;
      ++p;
    }
    while (++p < ec) {
      if (*p == '%') {
        ++p;
        if (class_matches(c, static_cast<unsigned char>(*p))) return found;
      } else if (p[1] == '-' && p + 2 < ec) {
        p += 2;
        if (static_cast<unsigned char>(p[-2]) <= c && c <= static_cast<unsigned char>(*p))
          return found;
      } else if (static_cast<unsigned char>(*p) == c) {
        return found;
      }
    }
    return !found;
  }

  static bool single(unsigned char c, const char* p, const char* ep) {
    switch (*p) {
      case '.':
        return true;
      case '%':
        return class_matches(c, static_cast<unsigned char>(p[1]));
      case '[':
        return in_set(c, p, ep - 1);
      default:
        return static_cast<unsigned char>(*p) == c;
    }
  }

  const char* max_expand(const char* s, const char* p, const char* ep) {
    size_t n = 0;
    while (s + n < se_ && single(static_cast<unsigned char>(s[n]), p, ep)) {
      spend();
      ++n;
    }
    while (true) {
      if (const char* r = match(s + n, ep + 1)) return r;
      if (n == 0) return nullptr;
      --n;
    }
  }

  const char* min_expand(const char* s, const char* p, const char* ep) {
    while (true) {
      if (const char* r = match(s, ep + 1)) return r;
      if (s < se_ && single(static_cast<unsigned char>(*s), p, ep)) {
        ++s;
      } else {
        return nullptr;
      }
    }
  }

  const char* start_capture(const char* s, const char* p, long what) {
    if (level_ >= kMaxCaptures) throw Failure{"too many captures"};
    capture_[level_] = {s, what};
    ++level_;
    const char* r = match(s, p);
    if (r == nullptr) --level_;
    return r;
  }

  const char* end_capture(const char* s, const char* p) {
    int l = -1;
    for (int k = level_ - 1; k >= 0; --k) {
      if (capture_[k].len == kUnfinished) {
        l = k;
        break;
      }
    }
    if (l < 0) throw Failure{"invalid pattern capture"};
    capture_[l].len = s - capture_[l].init;
    const char* r = match(s, p);
    if (r == nullptr) capture_[l].len = kUnfinished;
    return r;
  }

  const char* back_reference(const char* s, unsigned char digit) {
    int l = digit - '1';
    if (l < 0 || l >= level_ || capture_[l].len == kUnfinished)
      throw Failure{"invalid capture index"};
    long len = capture_[l].len;
    if (len < 0) return nullptr;  // a position capture never equals text
    if (se_ - s >= len && std::memcmp(capture_[l].init, s, static_cast<size_t>(len)) == 0)
      return s + len;
    return nullptr;
  }

  const char* balance(const char* s, const char* p) {
    if (pe_ - p < 2) throw Failure{"missing arguments to '%b'"};
    if (s >= se_ || *s != *p) return nullptr;
    char open = p[0], close = p[1];
    int depth = 1;
    while (++s < se_) {
      spend();
      if (*s == close) {
        if (--depth == 0) return s + 1;
      } else if (*s == open) {
        ++depth;
      }
    }
    return nullptr;
  }

  const char* sb_;
  const char* se_;
  const char* pe_;
  size_t budget_;
  int level_ = 0;
  Capture capture_[kMaxCaptures] = {};
};

}  // namespace

std::string lua_pattern_error(std::string_view pattern) {
  if (pattern.size() > kLuaPatternMaxLength)
    return "pattern too long (limit " + std::to_string(kLuaPatternMaxLength) + " bytes)";
  const char* p = pattern.data();
  const char* pe = p + pattern.size();
  if (p < pe && *p == '^') ++p;
  int opened = 0;
  std::vector<bool> closed;  // by capture index
  std::vector<int> stack;    // captures still open
  while (p < pe) {
    char c = *p;
    if (c == '(') {
      if (opened >= kMaxCaptures) return "too many captures";
      bool position = p + 1 < pe && p[1] == ')';
      closed.push_back(position);
      if (!position) stack.push_back(opened);
      ++opened;
      p += position ? 2 : 1;
      continue;
    }
    if (c == ')') {
      if (stack.empty()) return "invalid pattern capture";
      closed[stack.back()] = true;
      stack.pop_back();
      ++p;
      continue;
    }
    if (c == '%') {
      if (p + 1 >= pe) return "malformed pattern (ends with '%')";
      char n = p[1];
      if (n == 'b') {
        if (pe - (p + 2) < 2) return "missing arguments to '%b'";
        p += 4;
        continue;
      }
      if (n == 'f') {
        p += 2;
        if (p >= pe || *p != '[') return "missing '[' after '%f' in pattern";
        // fall through to the set scan below
      } else if (std::isdigit(static_cast<unsigned char>(n))) {
        int l = n - '1';
        if (l < 0 || l >= opened || !closed[l]) return "invalid capture index";
        p += 2;
        continue;
      }
    }
    // A single-character class, then an optional quantifier.
    if (*p == '%') {
      p += 2;
    } else if (*p == '[') {
      ++p;
      if (p < pe && *p == '^') ++p;
      do {
        if (p >= pe) return "malformed pattern (missing ']')";
        char x = *p++;
        if (x == '%') {
          if (p >= pe) return "malformed pattern (missing ']')";
          ++p;
        }
      } while (p >= pe || *p != ']');
      ++p;
    } else {
      ++p;
    }
    if (p < pe && (*p == '*' || *p == '+' || *p == '-' || *p == '?')) ++p;
  }
  if (!stack.empty()) return "unfinished capture";
  return {};
}

LuaMatch lua_pattern_match(std::string_view subject, std::string_view pattern, size_t step_budget,
                           size_t* steps_used) {
  if (steps_used != nullptr) *steps_used = 0;
  // Recursion depth is bounded by the pattern length; refuse what lua_pattern_error refuses.
  if (pattern.size() > kLuaPatternMaxLength) return LuaMatch::kError;
  const char* p = pattern.data();
  bool anchor = !pattern.empty() && *p == '^';
  if (anchor) ++p;
  Matcher m(subject, pattern, step_budget);
  LuaMatch result = LuaMatch::kNoMatch;
  try {
    const char* s = subject.data();
    const char* se = s + subject.size();
    do {
      m.reset();
      if (m.match(s, p) != nullptr) {
        // Lua raises "unfinished capture" when such a match is returned.
        result = m.unfinished_capture() ? LuaMatch::kError : LuaMatch::kMatch;
        break;
      }
    } while (s++ < se && !anchor);
  } catch (const Failure&) {
    result = LuaMatch::kError;
  }
  if (steps_used != nullptr) *steps_used = step_budget - m.remaining();
  return result;
}

}  // namespace sb::config
