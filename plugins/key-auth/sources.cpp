#include "sources.h"

#include <cstdint>
#include <vector>

namespace sbp::key_auth {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool needs_decoding(std::string_view s) { return s.find_first_of("%+") != std::string_view::npos; }

// Does the form-encoded `raw` name decode to `name`? Decodes only when it has to.
bool form_name_equals(std::string_view raw, std::string_view name, std::string* tmp) {
  if (!needs_decoding(raw)) return raw == name;
  percent_decode(raw, true, tmp);
  return *tmp == name;
}

// Calls fn(raw_name, raw_value, has_equals, begin, end) for every non-empty '&'-separated piece;
// fn returns false to stop.
template <typename Fn>
void for_each_arg(std::string_view args, size_t max_args, Fn&& fn) {
  size_t n = 0;
  size_t pos = 0;
  while (pos <= args.size() && n < max_args) {
    size_t amp = args.find('&', pos);
    if (amp == std::string_view::npos) amp = args.size();
    std::string_view piece = args.substr(pos, amp - pos);
    if (!piece.empty()) {
      ++n;
      size_t eq = piece.find('=');
      bool has_eq = eq != std::string_view::npos;
      std::string_view name = has_eq ? piece.substr(0, eq) : piece;
      std::string_view value = has_eq ? piece.substr(eq + 1) : std::string_view();
      if (!fn(name, value, has_eq, pos, amp)) return;
    }
    pos = amp + 1;
  }
}

// ---- JSON (RFC 8259, as cjson decodes it; nesting limited to cjson's default 1000) ----------

enum class JsonKind { kNull, kFalse, kTrue, kNumber, kString, kArray, kObject };

class JsonScanner {
 public:
  explicit JsonScanner(std::string_view s) : s_(s) {}

  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  size_t pos() const { return pos_; }
  bool consume(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  // Validates one value; its kind in *kind.
  bool value(JsonKind* kind, int depth) {
    if (depth > 1000) return false;
    skip_ws();
    char c = peek();
    if (c == '{') {
      *kind = JsonKind::kObject;
      ++pos_;
      skip_ws();
      if (consume('}')) return true;
      for (;;) {
        skip_ws();
        if (!string(nullptr)) return false;
        skip_ws();
        if (!consume(':')) return false;
        JsonKind k;
        if (!value(&k, depth + 1)) return false;
        skip_ws();
        if (consume('}')) return true;
        if (!consume(',')) return false;
      }
    }
    if (c == '[') {
      *kind = JsonKind::kArray;
      ++pos_;
      skip_ws();
      if (consume(']')) return true;
      for (;;) {
        JsonKind k;
        if (!value(&k, depth + 1)) return false;
        skip_ws();
        if (consume(']')) return true;
        if (!consume(',')) return false;
      }
    }
    if (c == '"') {
      *kind = JsonKind::kString;
      return string(nullptr);
    }
    if (literal("true")) return *kind = JsonKind::kTrue, true;
    if (literal("false")) return *kind = JsonKind::kFalse, true;
    if (literal("null")) return *kind = JsonKind::kNull, true;
    *kind = JsonKind::kNumber;
    return number();
  }

  // A string token; decoded into *out when out is not null.
  bool string(std::string* out) {
    if (!consume('"')) return false;
    if (out) out->clear();
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        if (out) out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return false;
      char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          if (out) out->push_back(e);
          break;
        case 'b':
          if (out) out->push_back('\b');
          break;
        case 'f':
          if (out) out->push_back('\f');
          break;
        case 'n':
          if (out) out->push_back('\n');
          break;
        case 'r':
          if (out) out->push_back('\r');
          break;
        case 't':
          if (out) out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (pos_ + 1 < s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
              pos_ += 2;
              if (!hex4(&lo)) return false;
              if (lo < 0xDC00 || lo > 0xDFFF) return false;
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              return false;
            }
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          if (out) append_utf8(cp, out);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

 private:
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool digits() {
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }
  bool number() {
    consume('-');
    if (consume('0')) {
      // no leading zeros
    } else if (!digits()) {
      return false;
    }
    if (consume('.') && !digits()) return false;
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (!consume('+')) consume('-');
      if (!digits()) return false;
    }
    return true;
  }
  bool hex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex_value(s_[pos_ + i]);
      if (h < 0) return false;
      v = (v << 4) | static_cast<uint32_t>(h);
    }
    pos_ += 4;
    *out = v;
    return true;
  }
  static void append_utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// One member of the top-level object: the bytes from its key's quote to the end of its value.
struct JsonMember {
  size_t begin, end;
  size_t value_begin;
  JsonKind kind;
};

// Walks a top-level object, calling fn(member, key) per member (key decoded into *key).
// Returns false if the body is not valid JSON or not an object (Kong: "invalid json body" or a
// non-object table where body[name] is nil).
template <typename Fn>
bool json_walk_object(std::string_view body, std::string* key, Fn&& fn) {
  // Validate the whole document first: cjson refuses it all when any part is malformed.
  {
    JsonScanner all(body);
    JsonKind k;
    if (!all.value(&k, 0)) return false;
    all.skip_ws();
    if (!all.at_end()) return false;
    if (k != JsonKind::kObject) return false;
  }
  JsonScanner sc(body);
  sc.skip_ws();
  sc.consume('{');
  sc.skip_ws();
  if (sc.consume('}')) return true;
  for (;;) {
    sc.skip_ws();
    JsonMember m;
    m.begin = sc.pos();
    sc.string(key);
    sc.skip_ws();
    sc.consume(':');
    sc.skip_ws();
    m.value_begin = sc.pos();
    sc.value(&m.kind, 1);
    m.end = sc.pos();
    fn(m, *key);
    sc.skip_ws();
    if (sc.consume('}')) return true;
    sc.consume(',');
  }
}

// ---- multipart ---------------------------------------------------------------------------

struct Part {
  size_t begin, end;  // from the delimiter's leading "--" to just before the next delimiter
  std::string_view name;
  bool has_name;
  std::string_view content;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// `name` parameter of a Content-Disposition value (quoted or token).
bool disposition_name(std::string_view v, std::string_view* out) {
  size_t pos = 0;
  while (pos < v.size()) {
    size_t semi = v.find(';', pos);
    if (semi == std::string_view::npos) semi = v.size();
    std::string_view param = trim(v.substr(pos, semi - pos));
    size_t eq = param.find('=');
    if (eq != std::string_view::npos && iequals(trim(param.substr(0, eq)), "name")) {
      std::string_view val = trim(param.substr(eq + 1));
      if (val.size() >= 2 && val.front() == '"') {
        size_t close = v.find('"', (val.data() - v.data()) + 1);
        if (close == std::string_view::npos) return false;
        size_t start = (val.data() - v.data()) + 1;
        *out = v.substr(start, close - start);
      } else {
        *out = val;
      }
      return true;
    }
    pos = semi + 1;
  }
  return false;
}

// Calls fn(part) for each part; false if the body is not a well-formed multipart body.
template <typename Fn>
bool for_each_part(std::string_view body, std::string_view boundary, Fn&& fn) {
  if (boundary.empty()) return false;
  std::string crlf_delim = "\r\n--";
  crlf_delim.append(boundary);
  std::string_view delim = std::string_view(crlf_delim).substr(2);
  size_t pos;
  if (body.substr(0, delim.size()) == delim) {
    pos = 0;
  } else {
    pos = body.find(crlf_delim);
    if (pos == std::string_view::npos) return false;
    pos += 2;
  }
  for (;;) {
    size_t after = pos + delim.size();
    if (body.substr(after, 2) == "--") return true;  // closing delimiter
    size_t line_end = body.find("\r\n", after);
    if (line_end == std::string_view::npos) return false;
    size_t headers_begin = line_end + 2;
    size_t headers_end = body.find("\r\n\r\n", headers_begin - 2);
    if (headers_end == std::string_view::npos) return false;
    size_t content_begin = headers_end + 4;
    size_t next = body.find(crlf_delim, content_begin);
    if (next == std::string_view::npos) return false;
    Part part{pos, next, {}, false, body.substr(content_begin, next - content_begin)};
    std::string_view headers =
        body.substr(headers_begin, headers_end > headers_begin ? headers_end - headers_begin : 0);
    size_t hp = 0;
    while (hp < headers.size()) {
      size_t le = headers.find("\r\n", hp);
      if (le == std::string_view::npos) le = headers.size();
      std::string_view line = headers.substr(hp, le - hp);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos &&
          iequals(trim(line.substr(0, colon)), "content-disposition")) {
        part.has_name = disposition_name(line.substr(colon + 1), &part.name);
      }
      hp = le + 2;
    }
    fn(part);
    pos = next + 2;
  }
}

}  // namespace

void percent_decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
      out->push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
}

Lookup form_lookup(std::string_view args, std::string_view name, std::string* scratch,
                   size_t max_args) {
  Lookup result;
  int count = 0;
  bool flag = false;
  std::string_view raw_value;
  std::string tmp_name;
  for_each_arg(args, max_args,
               [&](std::string_view n, std::string_view v, bool has_eq, size_t, size_t) {
                 if (!form_name_equals(n, name, &tmp_name)) return true;
                 if (++count > 1) return false;
                 flag = !has_eq;
                 raw_value = v;
                 return true;
               });
  if (count == 0) return result;
  if (count > 1) {
    result.found = Found::kMulti;
    return result;
  }
  if (flag) {
    result.found = Found::kOther;
    return result;
  }
  result.found = Found::kString;
  if (scratch != nullptr && needs_decoding(raw_value)) {
    percent_decode(raw_value, true, scratch);
    result.value = *scratch;
  } else {
    result.value = raw_value;
  }
  return result;
}

bool form_is_flag(std::string_view args, std::string_view name, size_t max_args) {
  return form_lookup(args, name, nullptr, max_args).found == Found::kOther;
}

bool form_remove(std::string_view args, std::string_view name, std::string* out) {
  std::string tmp;
  bool removed = false;
  std::string result;
  for_each_arg(args, SIZE_MAX,
               [&](std::string_view n, std::string_view, bool, size_t begin, size_t end) {
                 if (form_name_equals(n, name, &tmp)) {
                   removed = true;
                   return true;
                 }
                 if (!result.empty()) result.push_back('&');
                 result.append(args.substr(begin, end - begin));
                 return true;
               });
  if (removed) *out = std::move(result);
  return removed;
}

void query_remove_whatwg(std::string_view query, std::string_view name, std::string* out) {
  out->clear();
  std::string dn, dv;
  auto serialize = [out](std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char ch : s) {
      auto c = static_cast<unsigned char>(ch);
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '*' ||
          c == '-' || c == '.' || c == '_') {
        out->push_back(static_cast<char>(c));
      } else if (c == ' ') {
        out->push_back('+');
      } else {
        out->push_back('%');
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xF]);
      }
    }
  };
  for_each_arg(query, SIZE_MAX, [&](std::string_view n, std::string_view v, bool, size_t, size_t) {
    percent_decode(n, true, &dn);
    if (dn == name) return true;
    percent_decode(v, true, &dv);
    if (!out->empty()) out->push_back('&');
    serialize(dn);
    out->push_back('=');
    serialize(dv);
    return true;
  });
}

Lookup json_lookup(std::string_view body, std::string_view name, std::string* scratch) {
  Lookup result;
  std::string key;
  bool seen = false;
  JsonMember found{};
  bool ok = json_walk_object(body, &key, [&](const JsonMember& m, const std::string& k) {
    if (k == name) {
      found = m;
      seen = true;  // the last one wins, as cjson
    }
  });
  if (!ok || !seen) return result;
  switch (found.kind) {
    case JsonKind::kString: {
      JsonScanner sc(body.substr(found.value_begin, found.end - found.value_begin));
      sc.string(scratch);
      result.found = Found::kString;
      result.value = *scratch;
      break;
    }
    case JsonKind::kArray:
    case JsonKind::kObject:
      result.found = Found::kMulti;
      break;
    case JsonKind::kFalse:
      result.found = Found::kFalse;
      break;
    default:  // numbers, true, null (cjson.null is a truthy userdata)
      result.found = Found::kOther;
      break;
  }
  return result;
}

bool json_remove(std::string_view body, std::string_view name, std::string* out) {
  std::string key;
  std::vector<std::pair<size_t, size_t>> kept;
  bool removed = false;
  size_t open = body.find('{');
  bool ok = json_walk_object(body, &key, [&](const JsonMember& m, const std::string& k) {
    if (k == name) {
      removed = true;
    } else {
      kept.emplace_back(m.begin, m.end);
    }
  });
  if (!ok || !removed) return false;
  size_t close = body.rfind('}');
  std::string result(body.substr(0, open + 1));
  for (size_t i = 0; i < kept.size(); ++i) {
    if (i > 0) result.push_back(',');
    result.append(body.substr(kept[i].first, kept[i].second - kept[i].first));
  }
  result.append(body.substr(close));
  *out = std::move(result);
  return true;
}

std::string_view multipart_boundary(std::string_view content_type) {
  size_t pos = content_type.find(';');
  while (pos != std::string_view::npos) {
    size_t next = content_type.find(';', pos + 1);
    std::string_view param = trim(content_type.substr(
        pos + 1, (next == std::string_view::npos ? content_type.size() : next) - pos - 1));
    size_t eq = param.find('=');
    if (eq != std::string_view::npos && iequals(trim(param.substr(0, eq)), "boundary")) {
      std::string_view v = trim(param.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
    pos = next;
  }
  return {};
}

Lookup multipart_lookup(std::string_view body, std::string_view boundary, std::string_view name,
                        std::string* scratch) {
  Lookup result;
  int count = 0;
  std::string_view value;
  bool ok = for_each_part(body, boundary, [&](const Part& p) {
    if (p.has_name && p.name == name) {
      ++count;
      value = p.content;
    }
  });
  if (!ok || count == 0) return result;
  if (count > 1) {
    result.found = Found::kMulti;
    return result;
  }
  scratch->assign(value);
  result.found = Found::kString;
  result.value = *scratch;
  return result;
}

bool multipart_remove(std::string_view body, std::string_view boundary, std::string_view name,
                      std::string* out) {
  std::vector<std::pair<size_t, size_t>> drop;
  bool ok = for_each_part(body, boundary, [&](const Part& p) {
    if (p.has_name && p.name == name) drop.emplace_back(p.begin, p.end + 2);
  });
  if (!ok || drop.empty()) return false;
  std::string result;
  size_t pos = 0;
  for (const auto& [b, e] : drop) {
    result.append(body.substr(pos, b - pos));
    pos = e;
  }
  result.append(body.substr(pos));
  *out = std::move(result);
  return true;
}

BodyKind body_kind(std::string_view content_type) {
  size_t semi = content_type.find(';');
  std::string_view media = content_type.substr(0, semi);
  auto starts_with_ci = [media](std::string_view prefix) {
    return media.size() >= prefix.size() && iequals(media.substr(0, prefix.size()), prefix);
  };
  if (starts_with_ci("application/x-www-form-urlencoded")) return BodyKind::kForm;
  if (starts_with_ci("application/json")) return BodyKind::kJson;
  if (starts_with_ci("multipart/form-data")) return BodyKind::kMultipart;
  return BodyKind::kNone;
}

}  // namespace sbp::key_auth
