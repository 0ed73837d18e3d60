#include "admin/declarative.h"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "admin/json_writer.h"
#include "config/checks.h"
#include "http/message.h"

namespace sb::admin {

using sb::http::iequals;
using sb::http::trim;

// ---------------------------------------------------------------------------------------------
// Request bodies

std::string url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

void parse_urlencoded(std::string_view text, Params& out) {
  while (!text.empty()) {
    size_t amp = text.find('&');
    std::string_view pair = text.substr(0, amp);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      std::string key = url_decode(pair.substr(0, eq), true);
      std::string value = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1), true);
      out.insert_or_assign(std::move(key), std::move(value));
    }
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp + 1);
  }
}

bool truthy(std::string_view v) {
  return iequals(v, "true") || v == "1" || iequals(v, "on") || iequals(v, "yes");
}

namespace {

// Just enough JSON to read a body's top-level members without building a tree: values are
// returned as spans of the input (strings decoded).
class JsonScanner {
 public:
  explicit JsonScanner(std::string_view s) : s_(s) {}

  void ws() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r'))
      ++p_;
  }
  bool eat(char c) {
    ws();
    if (p_ < s_.size() && s_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  char peek() {
    ws();
    return p_ < s_.size() ? s_[p_] : '\0';
  }
  bool string(std::string& out) {
    if (!eat('"')) return false;
    out.clear();
    while (p_ < s_.size()) {
      char c = s_[p_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p_ >= s_.size()) return false;
      char e = s_[p_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          unsigned cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF && p_ + 1 < s_.size() && s_[p_] == '\\' &&
              s_[p_ + 1] == 'u') {
            p_ += 2;
            unsigned lo = 0;
            if (!hex4(lo)) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          utf8(cp, out);
          break;
        }
        default:
          out += e;  // \" \\ \/
      }
    }
    return false;
  }
  // Skips one value; [begin, end) is its text.
  bool skip(size_t& begin, size_t& end) {
    ws();
    begin = p_;
    if (p_ >= s_.size()) return false;
    char c = s_[p_];
    if (c == '"') {
      std::string tmp;
      if (!string(tmp)) return false;
    } else if (c == '{' || c == '[') {
      int depth = 0;
      while (p_ < s_.size()) {
        char d = s_[p_];
        if (d == '"') {
          std::string tmp;
          if (!string(tmp)) return false;
          continue;
        }
        ++p_;
        if (d == '{' || d == '[') ++depth;
        if (d == '}' || d == ']') {
          if (--depth == 0) break;
        }
      }
      if (depth != 0) return false;
    } else {
      while (p_ < s_.size() && s_[p_] != ',' && s_[p_] != '}' && s_[p_] != ']' && s_[p_] != ' ' &&
             s_[p_] != '\n' && s_[p_] != '\r' && s_[p_] != '\t')
        ++p_;
    }
    end = p_;
    return end > begin;
  }
  size_t pos() const { return p_; }
  bool at_end() {
    ws();
    return p_ == s_.size();
  }

 private:
  bool hex4(unsigned& out) {
    if (p_ + 4 > s_.size()) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[p_++];
      out <<= 4;
      if (c >= '0' && c <= '9') {
        out |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        out |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        out |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }
  static void utf8(unsigned cp, std::string& out) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  std::string_view s_;
  size_t p_ = 0;
};

// A JSON body: the whole body when it is the config itself (has _format_version), else its
// `config` member (a string holding YAML/JSON, or an object). Scalars go to `params`.
bool config_from_json(const std::string& body, std::string& text, Params& params) {
  JsonScanner j(body);
  if (!j.eat('{')) return false;
  bool format_version = false;
  std::string key, config;
  bool have_config = false;
  if (j.peek() != '}') {
    do {
      if (!j.string(key) || !j.eat(':')) return false;
      size_t b = 0, e = 0;
      if (j.peek() == '"') {
        std::string value;
        if (!j.string(value)) return false;
        if (key == "config") {
          config = std::move(value);
          have_config = true;
        } else {
          params.insert_or_assign(key, std::move(value));
        }
      } else {
        if (!j.skip(b, e)) return false;
        std::string_view raw(body.data() + b, e - b);
        if (key == "config") {
          config = std::string(raw);  // a JSON object is YAML too
          have_config = true;
        } else if (raw.front() != '{' && raw.front() != '[') {
          params.insert_or_assign(key, std::string(raw));
        }
      }
      if (key == "_format_version") format_version = true;
    } while (j.eat(','));
  }
  if (!j.eat('}') || !j.at_end()) return false;
  if (format_version) {
    text = body;
  } else if (have_config) {
    text = std::move(config);
  } else {
    text = body;
  }
  return true;
}

// The `config` part of a multipart/form-data body.
std::string config_from_multipart(std::string_view content_type, std::string_view body,
                                  Params& params) {
  size_t b = content_type.find("boundary=");
  if (b == std::string_view::npos) return {};
  std::string_view boundary = content_type.substr(b + 9);
  boundary = boundary.substr(0, boundary.find(';'));
  if (boundary.size() >= 2 && boundary.front() == '"')
    boundary = boundary.substr(1, boundary.size() - 2);
  std::string delim = "--" + std::string(boundary);
  std::string config;
  size_t pos = body.find(delim);
  while (pos != std::string_view::npos) {
    size_t start = pos + delim.size();
    if (body.substr(start, 2) == "--") break;
    size_t head_end = body.find("\r\n\r\n", start);
    if (head_end == std::string_view::npos) break;
    std::string_view head = body.substr(start, head_end - start);
    size_t next = body.find("\r\n" + delim, head_end + 4);
    if (next == std::string_view::npos) break;
    std::string_view content = body.substr(head_end + 4, next - head_end - 4);
    size_t n = head.find("name=\"");
    if (n != std::string_view::npos) {
      std::string_view name = head.substr(n + 6);
      name = name.substr(0, name.find('"'));
      if (name == "config") {
        config = std::string(content);
      } else {
        params.insert_or_assign(std::string(name), std::string(content));
      }
    }
    pos = next + 2;
  }
  return config;
}

}  // namespace

std::string config_from_body(std::string_view content_type, const std::string& body,
                             Params& params) {
  std::string_view type = trim(content_type.substr(0, content_type.find(';')));
  if (iequals(type, "application/x-www-form-urlencoded")) {
    Params form;
    parse_urlencoded(body, form);
    std::string config;
    for (auto& [k, v] : form) {
      if (k == "config") {
        config = v;
      } else {
        params.insert_or_assign(k, v);
      }
    }
    return config;
  }
  if (iequals(type, "multipart/form-data"))
    return config_from_multipart(content_type, body, params);
  std::string_view t = trim(body);
  if (!t.empty() && t.front() == '{') {
    std::string text;
    if (config_from_json(body, text, params)) return text;
  }
  return body;  // raw YAML or JSON; the loader reports what is wrong with it
}

// ---------------------------------------------------------------------------------------------
// Error bodies

namespace {

// Kong's error tree: objects keyed by field, arrays by position (null = valid entry).
struct Tree {
  enum class Kind { null, string, array, object } kind = Kind::null;
  std::string text;
  std::vector<Tree> items;
  std::map<std::string, Tree> fields;

  Tree* key(const std::string& k) {
    if (kind == Kind::null) kind = Kind::object;
    if (kind != Kind::object) return nullptr;
    return &fields[k];
  }
  Tree* index(size_t i) {
    if (kind == Kind::null) kind = Kind::array;
    if (kind != Kind::array) return nullptr;
    if (items.size() <= i) items.resize(i + 1);
    return &items[i];
  }
  void set(const std::string& message) {
    if (kind != Kind::null) return;  // one message per field, as Kong
    kind = Kind::string;
    text = message;
  }
  void add_entity(const std::string& message) {
    Tree* list = key("@entity");
    if (list == nullptr) return;
    Tree* t = list->index(list->items.size());
    if (t != nullptr) t->set(message);
  }
};

struct Seg {
  std::string key;  // empty: a bare index
  int index = -1;
};

// "services[0].routes[2]" / "config.a.b[1]" -> segments.
std::vector<Seg> parse_path(std::string_view path) {
  std::vector<Seg> out;
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string_view part = path.substr(0, dot);
    size_t br = part.find('[');
    Seg seg{std::string(part.substr(0, br)), -1};
    bool first = true;
    while (br != std::string_view::npos) {
      size_t close = part.find(']', br);
      if (close == std::string_view::npos) break;
      int i = std::atoi(std::string(part.substr(br + 1, close - br - 1)).c_str());
      if (first) {
        seg.index = i;
        out.push_back(seg);
        first = false;
      } else {
        out.push_back(Seg{{}, i});
      }
      br = part.find('[', close);
    }
    if (first) out.push_back(seg);
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
  }
  return out;
}

std::string_view entity_path(std::string_view entity) {
  return entity.substr(0, entity.find(" ("));
}

Tree* walk(Tree* t, const std::vector<Seg>& segs) {
  for (const auto& s : segs) {
    if (t == nullptr) return nullptr;
    if (!s.key.empty()) t = t->key(s.key);
    if (t != nullptr && s.index >= 0) t = t->index(static_cast<size_t>(s.index));
  }
  return t;
}

void add_error(Tree& root, const sb::config::Error& e) {
  std::string_view entity = entity_path(e.entity);
  if (entity.empty() && e.field.empty()) {
    root.key("error")->set(e.message);
    return;
  }
  Tree* node = walk(&root, parse_path(entity));
  if (node == nullptr) return;
  if (e.field.empty()) {
    if (e.message.rfind("uniqueness violation", 0) == 0 && node->kind == Tree::Kind::null) {
      node->set(e.message);  // Kong puts a duplicate's message in the entity's slot
    } else {
      node->add_entity(e.message);
    }
    return;
  }
  if (Tree* leaf = walk(node, parse_path(e.field))) leaf->set(e.message);
}

void to_json(JsonWriter& w, const Tree& t) {
  switch (t.kind) {
    case Tree::Kind::null:
      w.null();
      break;
    case Tree::Kind::string:
      w.str(t.text);
      break;
    case Tree::Kind::array:
      w.begin_array();
      for (const auto& i : t.items) to_json(w, i);
      w.end_array();
      break;
    case Tree::Kind::object:
      w.begin_object();
      for (const auto& [k, v] : t.fields) {
        w.key(k);
        to_json(w, v);
      }
      w.end_object();
      break;
  }
}

// Penlight's pretty.write(t, ""): what Kong puts after "declarative config is invalid: ".
void lua_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
}

bool lua_identifier(std::string_view k) {
  static const char* kKeywords[] = {"and",   "break", "do",       "else", "elseif", "end",
                                    "false", "for",   "function", "goto", "if",     "in",
                                    "local", "nil",   "not",      "or",   "repeat", "return",
                                    "then",  "true",  "until",    "while"};
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  for (char c : k) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  for (const char* kw : kKeywords) {
    if (k == kw) return false;
  }
  return true;
}

void to_lua(std::string& out, const Tree& t) {
  switch (t.kind) {
    case Tree::Kind::null:
      out += "nil";
      break;
    case Tree::Kind::string:
      lua_string(out, t.text);
      break;
    case Tree::Kind::array: {
      out += '{';
      bool first = true, sequence = true;
      for (size_t i = 0; i < t.items.size(); ++i) {
        if (t.items[i].kind == Tree::Kind::null) {
          sequence = false;  // Lua's array part ends at the first nil
          continue;
        }
        if (!first) out += ',';
        first = false;
        if (!sequence) out += fmt::format("[{}]=", i + 1);
        to_lua(out, t.items[i]);
      }
      out += '}';
      break;
    }
    case Tree::Kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : t.fields) {
        if (!first) out += ',';
        first = false;
        if (lua_identifier(k)) {
          out += k;
        } else {
          out += '[';
          lua_string(out, k);
          out += ']';
        }
        out += '=';
        to_lua(out, v);
      }
      out += '}';
      break;
    }
  }
}

// --- flattened_errors ---------------------------------------------------------------------

// Scalars typed as the loader types them: plain null/bool/number, anything quoted a string.
void yaml_to_json(JsonWriter& w, const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      w.begin_object();
      for (const auto& kv : n) {
        w.key(kv.first.Scalar());
        yaml_to_json(w, kv.second);
      }
      w.end_object();
      return;
    case YAML::NodeType::Sequence:
      w.begin_array();
      for (const auto& item : n) yaml_to_json(w, item);
      w.end_array();
      return;
    case YAML::NodeType::Scalar:
      break;
    default:
      w.null();
      return;
  }
  const std::string& s = n.Scalar();
  if (n.Tag() == "?") {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
      w.null();
      return;
    }
    if (s == "true" || s == "True" || s == "TRUE") {
      w.boolean(true);
      return;
    }
    if (s == "false" || s == "False" || s == "FALSE") {
      w.boolean(false);
      return;
    }
    char* end = nullptr;
    errno = 0;
    long long i = std::strtoll(s.c_str(), &end, 10);
    if (*end == '\0' && errno == 0) {
      w.num(static_cast<int64_t>(i));
      return;
    }
    double d = std::strtod(s.c_str(), &end);
    if (*end == '\0' && std::isfinite(d)) {
      w.num(d);
      return;
    }
  }
  w.str(s);
}

std::string singular(std::string_view collection) {
  if (!collection.empty() && collection.back() == 's') collection.remove_suffix(1);
  return std::string(collection);
}

// Child collections Kong hoists out of a nested entity, and the foreign key a child gets.
bool is_child_collection(std::string_view parent_type, std::string_view key) {
  if (key == "plugins") return parent_type != "plugins";
  if (parent_type == "services") return key == "routes";
  if (parent_type == "upstreams") return key == "targets";
  if (parent_type == "certificates") return key == "snis";
  if (parent_type == "consumers") {
    return key == "keyauth_credentials" || key == "basicauth_credentials" || key == "jwt_secrets" ||
           key == "acls" || key == "hmacauth_credentials" || key == "oauth2_credentials";
  }
  return false;
}

struct FlatError {
  bool entity = false;
  std::string field;
  std::string message;
};

struct FlatEntity {
  std::vector<Seg> path;
  std::vector<FlatError> errors;
};

// "paths[1]" -> "paths.2" (Kong joins keys with dots; Lua arrays count from 1).
std::string dotted_field(std::string_view field) {
  std::string out;
  for (const auto& s : parse_path(field)) {
    if (!s.key.empty()) out += (out.empty() ? "" : ".") + s.key;
    if (s.index >= 0) out += fmt::format("{}{}", out.empty() ? "" : ".", s.index + 1);
  }
  return out;
}

void render_flat_entity(JsonWriter& w, const YAML::Node& root, const FlatEntity& fe) {
  // Const look-ups only: yaml-cpp's non-const operator[] inserts missing keys.
  // A missing key gives a null node (yaml-cpp's own throws on use).
  auto get = [](const YAML::Node& n, const std::string& k) -> YAML::Node {
    if (!n.IsMap()) return YAML::Node();
    YAML::Node v = n[k];
    return v.IsDefined() ? v : YAML::Node();
  };
  // Walk to the entity, remembering its parent for the foreign key.
  YAML::Node node = root;
  YAML::Node parent;
  std::string parent_type;
  std::string type;
  for (size_t i = 0; i < fe.path.size(); ++i) {
    const Seg& s = fe.path[i];
    if (i > 0) {
      parent.reset(node);  // reset(): yaml-cpp's operator= would overwrite the tree
      parent_type = type;
    }
    type = s.key;
    YAML::Node list = node.IsMap() ? get(node, s.key) : YAML::Node();
    if (!list.IsSequence() || s.index < 0 || static_cast<size_t>(s.index) >= list.size()) {
      node.reset();
      break;
    }
    node.reset(list[static_cast<size_t>(s.index)]);
  }
  w.begin_object();
  w.field("entity_type", singular(type));
  auto scalar = [&](const char* k) -> std::string {
    if (!node.IsMap()) return {};
    YAML::Node v = get(node, k);
    if (v.IsScalar()) return v.Scalar();
    return {};
  };
  std::string id = scalar("id"), name = scalar("name");
  if (sb::config::checks::is_uuid(id)) w.field("entity_id", id);
  // Kong names only a string name (a plain 1234 is a number there).
  if (!name.empty()) {
    JsonWriter probe;
    yaml_to_json(probe, get(node, "name"));
    if (probe.text().front() == '"') w.field("entity_name", name);
  }
  YAML::Node tags = node.IsMap() ? get(node, "tags") : YAML::Node();
  if (tags.IsSequence()) {
    bool all_strings = true;
    for (const auto& t : tags) all_strings = all_strings && t.IsScalar();
    if (all_strings) {
      w.key("entity_tags").begin_array();
      for (const auto& t : tags) w.str(t.Scalar());
      w.end_array();
    }
  }
  w.key("entity");
  if (node.IsMap()) {
    w.begin_object();
    for (const auto& kv : node) {
      const std::string& k = kv.first.Scalar();
      if (is_child_collection(type, k) && kv.second.IsSequence()) continue;
      w.key(k);
      yaml_to_json(w, kv.second);
    }
    std::string fk = singular(parent_type);
    YAML::Node parent_id = parent.IsMap() ? get(parent, "id") : YAML::Node();
    if (!parent_type.empty() && get(node, fk).IsNull() && parent_id.IsScalar() &&
        sb::config::checks::is_uuid(parent_id.Scalar())) {
      w.key(fk).begin_object().field("id", parent_id.Scalar()).end_object();
    }
    w.end_object();
  } else if (node.IsDefined() && !node.IsNull()) {
    yaml_to_json(w, node);
  } else {
    w.begin_object().end_object();
  }
  w.key("errors").begin_array();
  for (const auto& e : fe.errors) {
    w.begin_object();
    if (e.entity) {
      w.field("type", "entity");
    } else {
      w.field("type", "field");
      w.field("field", e.field);
    }
    w.field("message", e.message);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

}  // namespace

std::string declarative_error_body(const std::vector<sb::config::Error>& errors,
                                   const std::string& input, bool flatten) {
  YAML::Node root;
  if (flatten) {
    try {
      root = YAML::Load(input);
    } catch (const YAML::Exception&) {
      flatten = false;  // Kong flattens only input it could parse
    }
    if (!root.IsMap()) flatten = false;
  }
  Tree tree;
  std::vector<FlatEntity> flat;
  for (const auto& e : errors) {
    std::string_view entity = entity_path(e.entity);
    if (!flatten || entity.empty()) {
      add_error(tree, e);
      continue;
    }
    std::vector<Seg> path = parse_path(entity);
    auto it = std::find_if(flat.begin(), flat.end(), [&](const FlatEntity& f) {
      if (f.path.size() != path.size()) return false;
      for (size_t i = 0; i < path.size(); ++i) {
        if (f.path[i].key != path[i].key || f.path[i].index != path[i].index) return false;
      }
      return true;
    });
    if (it == flat.end()) {
      flat.push_back({path, {}});
      it = flat.end() - 1;
    }
    it->errors.push_back({e.field.empty(), dotted_field(e.field), e.message});
  }
  if (tree.kind == Tree::Kind::null) tree.kind = Tree::Kind::object;
  std::string lua;
  to_lua(lua, tree);
  JsonWriter w;
  w.begin_object();
  w.field("code", 14);
  w.field("name", "invalid declarative configuration");
  w.field("message", "declarative config is invalid: " + lua);
  w.key("fields");
  to_json(w, tree);
  if (flatten) {
    w.key("flattened_errors").begin_array();
    for (const auto& fe : flat) render_flat_entity(w, root, fe);
    w.end_array();
  }
  w.end_object();
  return std::move(w.text());
}

}  // namespace sb::admin
