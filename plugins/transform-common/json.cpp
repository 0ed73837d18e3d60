#include "json.h"

#include <cmath>
#include <cstdio>

namespace sbp::json {
namespace {

constexpr bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Scans a string starting after its opening quote; on success `p` is past the closing quote.
bool scan_string(std::string_view s, size_t& p, std::string_view& raw, bool& escaped) {
  size_t start = p;
  escaped = false;
  while (p < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[p]);
    if (c == '"') {
      raw = s.substr(start, p - start);
      ++p;
      return true;
    }
    if (c < 0x20) return false;
    if (c == '\\') {
      escaped = true;
      if (++p >= s.size()) return false;
      switch (s[p]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          ++p;
          break;
        case 'u':
          if (p + 4 >= s.size()) return false;
          for (size_t k = 1; k <= 4; ++k) {
            if (hex_value(s[p + k]) < 0) return false;
          }
          p += 5;
          break;
        default:
          return false;
      }
      continue;
    }
    ++p;
  }
  return false;
}

bool scan_number(std::string_view s, size_t& p) {
  size_t n = s.size();
  if (p < n && s[p] == '-') ++p;
  if (p >= n) return false;
  if (s[p] == '0') {
    ++p;
  } else if (is_digit(s[p])) {
    while (p < n && is_digit(s[p])) ++p;
  } else {
    return false;
  }
  if (p < n && s[p] == '.') {
    ++p;
    if (p >= n || !is_digit(s[p])) return false;
    while (p < n && is_digit(s[p])) ++p;
  }
  if (p < n && (s[p] == 'e' || s[p] == 'E')) {
    ++p;
    if (p < n && (s[p] == '+' || s[p] == '-')) ++p;
    if (p >= n || !is_digit(s[p])) return false;
    while (p < n && is_digit(s[p])) ++p;
  }
  return true;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

uint32_t read_hex4(std::string_view s, size_t p) {
  uint32_t v = 0;
  for (size_t k = 0; k < 4; ++k) v = (v << 4) | static_cast<uint32_t>(hex_value(s[p + k]));
  return v;
}

}  // namespace

bool Document::parse(std::string_view s) {
  nodes_.clear();
  stack_.clear();
  size_t p = 0;
  const size_t n = s.size();
  std::string_view key;
  bool key_escaped = false;
  auto fail = [this] {
    nodes_.clear();
    stack_.clear();
    return false;
  };
  auto skip_ws = [&] {
    while (p < n && is_ws(s[p])) ++p;
  };
  // Reads `"key" :` of an object member into key/key_escaped.
  auto read_key = [&] {
    skip_ws();
    if (p >= n || s[p] != '"') return false;
    ++p;
    if (!scan_string(s, p, key, key_escaped)) return false;
    skip_ws();
    if (p >= n || s[p] != ':') return false;
    ++p;
    return true;
  };

  for (;;) {
    // A value is expected at p; `key` is its member key when the parent is an object.
    skip_ws();
    if (p >= n) return fail();
    Node node;
    node.key = key;
    node.key_escaped = key_escaped;
    key = {};
    key_escaped = false;
    bool container = false;
    char c = s[p];
    switch (c) {
      case '{':
        node.kind = Kind::kObject;
        container = true;
        ++p;
        break;
      case '[':
        node.kind = Kind::kArray;
        container = true;
        ++p;
        break;
      case '"':
        node.kind = Kind::kString;
        ++p;
        if (!scan_string(s, p, node.text, node.escaped)) return fail();
        break;
      case 't':
        if (s.substr(p, 4) != "true") return fail();
        node.kind = Kind::kTrue;
        p += 4;
        break;
      case 'f':
        if (s.substr(p, 5) != "false") return fail();
        node.kind = Kind::kFalse;
        p += 5;
        break;
      case 'n':
        if (s.substr(p, 4) != "null") return fail();
        node.kind = Kind::kNull;
        p += 4;
        break;
      default: {
        if (c != '-' && !is_digit(c)) return fail();
        size_t start = p;
        if (!scan_number(s, p)) return fail();
        node.kind = Kind::kNumber;
        node.text = s.substr(start, p - start);
        break;
      }
    }
    if (!stack_.empty()) ++nodes_[stack_.back()].count;
    uint32_t idx = static_cast<uint32_t>(nodes_.size());
    nodes_.push_back(node);
    bool closed_empty = false;
    if (container) {
      if (stack_.size() >= kMaxDepth) return fail();
      stack_.push_back(idx);
      skip_ws();
      char closer = node.kind == Kind::kObject ? '}' : ']';
      if (p < n && s[p] == closer) {
        ++p;
        nodes_[idx].end = idx + 1;
        stack_.pop_back();
        closed_empty = true;
      } else {
        if (node.kind == Kind::kObject && !read_key()) return fail();
        continue;  // parse the first child
      }
    } else {
      nodes_[idx].end = idx + 1;
    }
    (void)closed_empty;
    // After a complete value: a ',' (next sibling), closers, or the end of the text.
    for (;;) {
      skip_ws();
      if (stack_.empty()) {
        if (p != n) return fail();
        return true;
      }
      if (p >= n) return fail();
      uint32_t parent = stack_.back();
      bool is_object = nodes_[parent].kind == Kind::kObject;
      if (s[p] == ',') {
        ++p;
        if (is_object && !read_key()) return fail();
        break;  // parse the next sibling
      }
      if (s[p] == (is_object ? '}' : ']')) {
        ++p;
        nodes_[parent].end = static_cast<uint32_t>(nodes_.size());
        stack_.pop_back();
        continue;
      }
      return fail();
    }
  }
}

void write_compact(std::string& out, const Document& doc, uint32_t i) {
  struct Frame {
    uint32_t end;
    bool object;
    bool first;
  };
  thread_local std::vector<Frame> frames;
  frames.clear();
  const uint32_t end = doc[i].end;
  for (uint32_t k = i; k < end; ++k) {
    while (!frames.empty() && frames.back().end == k) {
      out.push_back(frames.back().object ? '}' : ']');
      frames.pop_back();
    }
    const Node& nd = doc[k];
    if (!frames.empty()) {
      Frame& f = frames.back();
      if (!f.first) out.push_back(',');
      f.first = false;
      if (f.object) {
        out.push_back('"');
        out.append(nd.key);
        out.append("\":");
      }
    }
    switch (nd.kind) {
      case Kind::kNull:
        out.append("null");
        break;
      case Kind::kFalse:
        out.append("false");
        break;
      case Kind::kTrue:
        out.append("true");
        break;
      case Kind::kNumber:
        out.append(nd.text);
        break;
      case Kind::kString:
        out.push_back('"');
        out.append(nd.text);
        out.push_back('"');
        break;
      case Kind::kArray:
      case Kind::kObject: {
        bool object = nd.kind == Kind::kObject;
        out.push_back(object ? '{' : '[');
        if (nd.end == k + 1) {
          out.push_back(object ? '}' : ']');
        } else {
          frames.push_back(Frame{nd.end, object, true});
        }
        break;
      }
    }
  }
  while (!frames.empty()) {
    out.push_back(frames.back().object ? '}' : ']');
    frames.pop_back();
  }
}

void write_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '/':
        out.append("\\/");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\f':
        out.append("\\f");
        break;
      case '\r':
        out.append("\\r");
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

void unescape(std::string& out, std::string_view raw) {
  for (size_t p = 0; p < raw.size(); ++p) {
    char c = raw[p];
    if (c != '\\' || p + 1 >= raw.size()) {
      out.push_back(c);
      continue;
    }
    char e = raw[++p];
    switch (e) {
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        if (p + 4 >= raw.size()) {  // not validated text: keep the rest as it is
          out.append(raw.substr(p - 1));
          return;
        }
        uint32_t cp = read_hex4(raw, p + 1);
        p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && p + 6 < raw.size() && raw[p + 1] == '\\' &&
            raw[p + 2] == 'u') {
          uint32_t lo = read_hex4(raw, p + 3);
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
          } else {
            cp = 0xfffd;
          }
        } else if (cp >= 0xd800 && cp <= 0xdfff) {
          cp = 0xfffd;
        }
        append_utf8(out, cp);
        break;
      }
      default:
        out.push_back(e);
        break;  // '"', '\\', '/'
    }
  }
}

bool write_number(std::string& out, double v) {
  if (!std::isfinite(v)) return false;
  char buf[40];
  int len = std::snprintf(buf, sizeof buf, "%.14g", v);
  if (len <= 0) return false;
  out.append(buf, static_cast<size_t>(len));
  return true;
}

std::string_view key_of(const Node& n, std::string& scratch) {
  if (!n.key_escaped) return n.key;
  scratch.clear();
  unescape(scratch, n.key);
  return scratch;
}

}  // namespace sbp::json
