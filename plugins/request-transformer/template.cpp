#include "template.h"

#include <array>

namespace sbp::rt {
namespace {

constexpr std::array<std::string_view, 22> kLuaKeywords = {
    "and",      "break",  "do",   "else", "elseif", "end",  "false", "for",
    "function", "goto",   "if",   "in",   "local",  "nil",  "not",   "or",
    "repeat",   "return", "then", "true", "until",  "while"};

bool is_keyword(std::string_view s) {
  for (std::string_view k : kLuaKeywords) {
    if (k == s) return true;
  }
  return false;
}

constexpr bool ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
constexpr bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }
constexpr bool digit(char c) { return c >= '0' && c <= '9'; }

enum class Tok { kEnd, kIdent, kString, kInt, kDot, kLBracket, kRBracket, kBad };

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Tok next() {
    while (p_ < s_.size() &&
           (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) {
      ++p_;
    }
    text_.clear();
    if (p_ >= s_.size()) return Tok::kEnd;
    char c = s_[p_];
    if (ident_start(c)) {
      size_t start = p_;
      while (p_ < s_.size() && ident_char(s_[p_])) ++p_;
      text_ = s_.substr(start, p_ - start);
      return Tok::kIdent;
    }
    if (digit(c)) {
      size_t start = p_;
      while (p_ < s_.size() && digit(s_[p_])) ++p_;
      if (p_ < s_.size() && (ident_char(s_[p_]) || s_[p_] == '.')) return Tok::kBad;
      text_ = s_.substr(start, p_ - start);
      return Tok::kInt;
    }
    ++p_;
    switch (c) {
      case '.':
        return Tok::kDot;
      case '[':
        return Tok::kLBracket;
      case ']':
        return Tok::kRBracket;
      case '"':
      case '\'':
        return string(c) ? Tok::kString : Tok::kBad;
      default:
        return Tok::kBad;
    }
  }
  const std::string& text() const { return text_; }

 private:
  // A Lua short string literal; the opening quote is consumed.
  bool string(char quote) {
    while (p_ < s_.size()) {
      char c = s_[p_++];
      if (c == quote) return true;
      if (c == '\n') return false;
      if (c != '\\') {
        text_.push_back(c);
        continue;
      }
      if (p_ >= s_.size()) return false;
      char e = s_[p_++];
      switch (e) {
        case 'a':
          text_.push_back('\a');
          break;
        case 'b':
          text_.push_back('\b');
          break;
        case 'f':
          text_.push_back('\f');
          break;
        case 'n':
          text_.push_back('\n');
          break;
        case 'r':
          text_.push_back('\r');
          break;
        case 't':
          text_.push_back('\t');
          break;
        case 'v':
          text_.push_back('\v');
          break;
        case '\\':
        case '"':
        case '\'':
          text_.push_back(e);
          break;
        case 'x': {
          int v = 0;
          for (int k = 0; k < 2; ++k) {
            if (p_ >= s_.size()) return false;
            char h = s_[p_++];
            int d = digit(h)                 ? h - '0'
                    : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                    : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                             : -1;
            if (d < 0) return false;
            v = v * 16 + d;
          }
          text_.push_back(static_cast<char>(v));
          break;
        }
        default: {
          if (!digit(e)) return false;
          int v = e - '0';
          for (int k = 0; k < 2 && p_ < s_.size() && digit(s_[p_]); ++k)
            v = v * 10 + (s_[p_++] - '0');
          if (v > 255) return false;
          text_.push_back(static_cast<char>(v));
        }
      }
    }
    return false;
  }

  std::string_view s_;
  size_t p_ = 0;
  std::string text_;
};

std::optional<Root> root_of(std::string_view ident) {
  if (ident == "headers") return Root::kHeaders;
  if (ident == "query_params") return Root::kQueryParams;
  if (ident == "uri_captures") return Root::kUriCaptures;
  if (ident == "shared") return Root::kShared;
  return std::nullopt;
}

bool parse_term(Lexer& lx, Tok tok, Term& term) {
  if (tok == Tok::kString) {
    term.literal = true;
    term.key = lx.text();
    return true;
  }
  if (tok != Tok::kIdent) return false;
  std::optional<Root> root = root_of(lx.text());
  if (!root) return false;
  term.root = *root;
  Tok t = lx.next();
  if (t == Tok::kDot) {
    if (lx.next() != Tok::kIdent || is_keyword(lx.text())) return false;
    term.key = lx.text();
    return true;
  }
  if (t != Tok::kLBracket) return false;
  t = lx.next();
  if (t == Tok::kInt) {
    term.numeric = true;
  } else if (t != Tok::kString) {
    return false;
  }
  term.key = lx.text();
  if (term.numeric) {
    // Lua number keys: 007 and 7 are the same key.
    size_t z = 0;
    while (z + 1 < term.key.size() && term.key[z] == '0') ++z;
    term.key.erase(0, z);
  }
  return lx.next() == Tok::kRBracket;
}

bool parse_expr(std::string_view expr, std::vector<Term>& terms) {
  Lexer lx(expr);
  for (;;) {
    Term term;
    if (!parse_term(lx, lx.next(), term)) return false;
    terms.push_back(std::move(term));
    Tok t = lx.next();
    if (t == Tok::kEnd) return true;
    if (t != Tok::kIdent || lx.text() != "or") return false;
  }
}

}  // namespace

std::optional<Template> Template::compile(std::string_view src, std::string* err) {
  Template t;
  t.source_ = src;
  Piece cur;
  size_t pos = 0;     // start of the literal text not yet consumed
  size_t search = 0;  // where to look for the next "$("
  for (;;) {
    size_t d = src.find("$(", search);
    if (d == std::string_view::npos) break;
    // Lua's %b(): the parenthesis after '$' and its balanced partner (quotes are not special).
    size_t depth = 0, k = d + 1;
    bool closed = false;
    for (; k < src.size(); ++k) {
      if (src[k] == '(') {
        ++depth;
      } else if (src[k] == ')' && --depth == 0) {
        closed = true;
        break;
      }
    }
    if (!closed) {
      search = d + 1;
      continue;
    }
    cur.text.append(src.substr(pos, d - pos));
    std::string_view expr = src.substr(d + 2, k - d - 2);
    if (!parse_expr(expr, cur.terms)) {
      if (err) {
        *err = "unsupported template expression '$(" + std::string(expr) +
               ")': Silverback does not run Lua; only look-ups of headers, query_params, "
               "uri_captures and shared (such as $(headers.x), $(headers[\"x-y\"]), "
               "$(query_params.q), $(uri_captures[1]), $(shared.k)), string literals and 'or' "
               "between them are supported";
      }
      return std::nullopt;
    }
    t.pieces_.push_back(std::move(cur));
    cur = Piece{};
    pos = search = k + 1;
  }
  cur.text.append(src.substr(pos));
  if (!cur.text.empty() || t.pieces_.empty()) t.pieces_.push_back(std::move(cur));
  return t;
}

bool Template::uses(Root root) const {
  for (const Piece& p : pieces_) {
    for (const Term& term : p.terms) {
      if (!term.literal && term.root == root) return true;
    }
  }
  return false;
}

void Template::header_keys(std::vector<std::string>& out) const {
  for (const Piece& p : pieces_) {
    for (const Term& term : p.terms) {
      if (!term.literal && term.root == Root::kHeaders && !term.numeric) out.push_back(term.key);
    }
  }
}

}  // namespace sbp::rt
