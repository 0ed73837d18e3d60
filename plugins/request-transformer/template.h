// request-transformer's value templates. Kong renders `$(expr)` with Penlight's pl.template,
// evaluating expr as Lua in a sandbox whose environment exposes `headers`, `query_params`,
// `uri_captures` and `shared`. Silverback runs no Lua: it compiles the plain look-ups people use
// and rejects anything else when the config is loaded (Kong would fail the request at run time).
//
// Supported inside $(...):   term { "or" term }
//   term   = lookup | string literal ('...' or "...", Lua escapes)
//   lookup = root "." name | root "[" string literal "]" | uri_captures "[" integer "]"
//   root   = headers | query_params | uri_captures | shared
// A look-up that finds nothing is nil: `or` moves on; a template whose value is nil renders "".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sbp::rt {

enum class Root : uint8_t { kHeaders, kQueryParams, kUriCaptures, kShared };

struct Term {
  bool literal = false;  // `key` is the value itself
  bool numeric = false;  // a [number] index: only uri_captures has those keys
  Root root = Root::kHeaders;
  std::string key;
};

struct Piece {
  std::string text;         // literal text before the expression
  std::vector<Term> terms;  // the expression's alternatives; empty for trailing text
};

class Template {
 public:
  // Compiles `src`. On an unsupported expression returns nullopt and sets *err.
  static std::optional<Template> compile(std::string_view src, std::string* err);

  // True when the source has no $(...) and renders as itself.
  bool literal() const { return pieces_.size() == 1 && pieces_[0].terms.empty(); }
  const std::string& source() const { return source_; }
  bool uses(Root root) const;
  // Header names the template looks up (for freezing them, see RequestTransformer).
  void header_keys(std::vector<std::string>& out) const;

  // Appends the rendered value. `lookup(root, key, numeric)` returns std::optional<string_view>.
  template <class Lookup>
  void render(std::string& out, Lookup&& lookup) const {
    for (const Piece& p : pieces_) {
      out.append(p.text);
      for (const Term& t : p.terms) {
        if (t.literal) {
          out.append(t.key);
          break;
        }
        std::optional<std::string_view> v = lookup(t.root, std::string_view(t.key), t.numeric);
        if (v) {
          out.append(*v);
          break;
        }
      }
    }
  }

 private:
  std::string source_;
  std::vector<Piece> pieces_;
};

}  // namespace sbp::rt
