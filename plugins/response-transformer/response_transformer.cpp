#include "response_transformer.h"

#include <cmath>
#include <cstdlib>
#include <optional>

#include "json.h"
#include "mime.h"
#include "scratch.h"
#include "text.h"

namespace sbp {
namespace {

using Pair = ResponseTransformer::Pair;
using JsonValue = ResponseTransformer::JsonValue;

[[noreturn]] void reject(std::string_view section, std::string_view list, size_t i,
                         const std::string& what) {
  throw sb::ConfigError("config." + std::string(section) + "." + std::string(list) + "[" +
                        std::to_string(i) + "]: " + what);
}

// The entries of one array (errors name them 0-based, like the host's schema engine), split as the
// plugin's iter() does ("^([^:]+):*(.-)$"; an empty value is nil). `colon`: the schema's match
// "^[^:]+:.*$" applies.
std::vector<Pair> pairs_of(const sb::Value& arr, std::string_view section, std::string_view list,
                           bool colon, bool header_names) {
  std::vector<Pair> out;
  for (size_t i = 0; i < arr.size(); ++i) {
    sb::Value item = arr.at(i);
    if (!item.is_string()) reject(section, list, i, "expected a string");
    std::string_view entry = item.str();
    std::optional<NameValue> nv = split_entry(entry);
    if (!nv || (colon && entry.find(':') == std::string_view::npos)) {
      reject(section, list, i, "invalid value: " + std::string(entry));
    }
    if (header_names) {
      // validate_colon_headers (rename.headers): both names must be header names.
      if (!valid_header_name(nv->name)) {
        reject(section, list, i, "'" + std::string(nv->name) + "' is not a valid header");
      }
      if (!valid_header_name(nv->value)) {
        reject(section, list, i, "'" + std::string(nv->value) + "' is not a valid header");
      }
    }
    Pair p;
    p.name = std::string(nv->name);
    p.value = std::string(nv->value);
    p.has_value = !nv->value.empty();
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::string> names_of(const sb::Value& arr, std::string_view section,
                                  std::string_view list) {
  std::vector<std::string> out;
  for (Pair& p : pairs_of(arr, section, list, false, false)) out.push_back(std::move(p.name));
  return out;
}

std::vector<JsonValue> json_values_of(const sb::Value& rec, std::string_view section) {
  std::vector<JsonValue> out;
  std::vector<Pair> pairs = pairs_of(rec["json"], section, "json", true, false);
  sb::Value types = rec["json_types"];
  for (size_t i = 0; i < pairs.size(); ++i) {
    std::string_view type = types.at(i).is_string() ? types.at(i).str() : std::string_view();
    if (!type.empty() && type != "boolean" && type != "number" && type != "string") {
      throw sb::ConfigError("config." + std::string(section) + ".json_types[" + std::to_string(i) +
                            "]: expected one of: boolean, number, string");
    }
    const Pair& p = pairs[i];
    out.push_back(ResponseTransformer::json_value(p.name, p.has_value ? &p.value : nullptr, type));
  }
  return out;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, pos)) {
    out.append(s, pos, at - pos).append(to);
    pos = at + from.size();
  }
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

// LuaJIT's tonumber() on a string: surrounding whitespace, a sign, decimal or 0x hex, inf/nan.
std::optional<double> lua_tonumber(std::string_view s) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  bool neg = false;
  std::string_view body = s;
  if (body.front() == '-' || body.front() == '+') {
    neg = body.front() == '-';
    body.remove_prefix(1);
  }
  if (iequals(body, "inf") || iequals(body, "infinity")) return neg ? -HUGE_VAL : HUGE_VAL;
  if (iequals(body, "nan")) return std::nan("");
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
    double v = 0;
    for (char c : body.substr(2)) {
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + d;
    }
    return neg ? -v : v;
  }
  // Decimal: digits [. digits] [e [sign] digits], at least one digit before the exponent.
  size_t p = 0, digits = 0;
  while (p < body.size() && body[p] >= '0' && body[p] <= '9') ++p, ++digits;
  if (p < body.size() && body[p] == '.') {
    ++p;
    while (p < body.size() && body[p] >= '0' && body[p] <= '9') ++p, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (p < body.size() && (body[p] == 'e' || body[p] == 'E')) {
    ++p;
    if (p < body.size() && (body[p] == '+' || body[p] == '-')) ++p;
    size_t exp_digits = 0;
    while (p < body.size() && body[p] >= '0' && body[p] <= '9') ++p, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (p != body.size()) return std::nullopt;
  std::string copy(body);
  double v = std::strtod(copy.c_str(), nullptr);
  return neg ? -v : v;
}

// Everything a request needs, reused by the worker thread from request to request.
struct Scratch {
  StringPool pool;
  std::vector<char> exists;  // snapshot look-ups: replace entries, then add entries
  std::vector<std::vector<std::string_view>> renamed;  // values of rename sources (snapshot)
  std::string body;
  std::string out;
  json::Document doc;
  json::ObjectEditor editor;
};
thread_local Scratch t_scratch;

// kong.ctx.plugin marker: header_filter asked the host to buffer this response's body.
constexpr char kBuffered = 0;

bool response_has(const sb_host_api* api, sb_ctx* ctx, std::string_view name) {
  size_t count = 0;
  return api->hdr_get(ctx, SB_HDR_RESPONSE, sb::str(name), 0, nullptr, &count) == SB_OK &&
         count > 0;
}

}  // namespace

JsonValue ResponseTransformer::json_value(std::string_view name, const std::string* value,
                                          std::string_view json_type) {
  JsonValue jv;
  jv.name = std::string(name);
  // local v = cjson_encode(value); strip the quotes of a string, then \" -> " and \/ -> /.
  std::string v;
  if (value) {
    json::write_string(v, *value);
    v = v.substr(1, v.size() - 2);
    replace_all(v, "\\\"", "\"");
  } else {
    v = "null";
  }
  replace_all(v, "\\/", "/");
  jv.valid = true;
  if (json_type == "number") {
    std::optional<double> n = lua_tonumber(v);
    if (!n) {
      jv.valid = false;
      return jv;
    }
    jv.type = json::Item::T::kRaw;
    jv.encodable = json::write_number(jv.text, *n);
  } else if (json_type == "boolean") {
    jv.type = json::Item::T::kRaw;
    jv.text = v == "true" ? "true" : "false";
  } else {
    jv.type = json::Item::T::kString;
    jv.text = std::move(v);
  }
  return jv;
}

ResponseTransformer::Config ResponseTransformer::compile(const sb::Value& conf) {
  Config c;
  c.remove_headers = names_of(conf["remove"]["headers"], "remove", "headers");
  c.remove_json = names_of(conf["remove"]["json"], "remove", "json");
  c.rename_headers = pairs_of(conf["rename"]["headers"], "rename", "headers", true, true);
  c.rename_json = pairs_of(conf["rename"]["json"], "rename", "json", true, false);
  c.replace_headers = pairs_of(conf["replace"]["headers"], "replace", "headers", true, false);
  c.add_headers = pairs_of(conf["add"]["headers"], "add", "headers", true, false);
  c.append_headers = pairs_of(conf["append"]["headers"], "append", "headers", true, false);
  c.replace_json = json_values_of(conf["replace"], "replace");
  c.add_json = json_values_of(conf["add"], "add");
  c.append_json = json_values_of(conf["append"], "append");
  c.json_ops = !c.add_json.empty() || !c.rename_json.empty() || !c.remove_json.empty() ||
               !c.replace_json.empty() || !c.append_json.empty();
  return c;
}

sb::Result ResponseTransformer::header_filter(sb::Ctx& ctx, const Config& cfg) {
  const sb_host_api* api = ctx.api();
  sb_ctx* raw = ctx.raw();
  const uint32_t map = SB_HDR_RESPONSE;
  Scratch& s = t_scratch;
  s.pool.reset();

  // Kong tests existence against kong.response.get_headers() taken before any change.
  s.exists.clear();
  for (const Pair& p : cfg.replace_headers) s.exists.push_back(response_has(api, raw, p.name));
  for (const Pair& p : cfg.add_headers) s.exists.push_back(response_has(api, raw, p.name));
  if (s.renamed.size() < cfg.rename_headers.size()) s.renamed.resize(cfg.rename_headers.size());
  for (size_t i = 0; i < cfg.rename_headers.size(); ++i) {
    std::vector<std::string_view>& vals = s.renamed[i];
    vals.clear();
    std::string_view old_name = cfg.rename_headers[i].name;
    size_t count = 0;
    if (api->hdr_get(raw, map, sb::str(old_name), 0, nullptr, &count) != SB_OK) continue;
    for (size_t k = 0; k < count; ++k) {
      sb_str v{nullptr, 0};
      if (api->hdr_get(raw, map, sb::str(old_name), k, &v, nullptr) == SB_OK) {
        vals.push_back(s.pool.keep(sb::view(v)));
      }
    }
  }

  for (const std::string& name : cfg.remove_headers) api->hdr_remove(raw, map, sb::str(name));
  for (size_t i = 0; i < cfg.rename_headers.size(); ++i) {
    const Pair& p = cfg.rename_headers[i];
    const std::vector<std::string_view>& vals = s.renamed[i];
    if (vals.empty() || !p.has_value) continue;
    api->hdr_set(raw, map, sb::str(p.value), sb::str(vals[0]));
    for (size_t k = 1; k < vals.size(); ++k) {
      api->hdr_add(raw, map, sb::str(p.value), sb::str(vals[k]));
    }
    api->hdr_remove(raw, map, sb::str(p.name));
  }
  size_t e = 0;
  for (const Pair& p : cfg.replace_headers) {
    if (s.exists[e++] && p.has_value) api->hdr_set(raw, map, sb::str(p.name), sb::str(p.value));
  }
  for (const Pair& p : cfg.add_headers) {
    if (!s.exists[e++] && p.has_value) api->hdr_set(raw, map, sb::str(p.name), sb::str(p.value));
  }
  for (const Pair& p : cfg.append_headers) {
    // Kong raises an error for a nil value here; Silverback skips the entry.
    if (p.has_value) api->hdr_add(raw, map, sb::str(p.name), sb::str(p.value));
  }

  // The JSON body is rewritten in body_filter: have the host buffer it (and recompute the
  // framing: Kong drops Content-Length here) only when it will be transformed.
  if (cfg.json_ops) {
    sb_str ct{nullptr, 0};
    if (api->hdr_get(raw, map, sb::str("Content-Type"), 0, &ct, nullptr) == SB_OK &&
        mime::is_json(sb::view(ct))) {
      sb::Status st = api->response_body_mode(raw, SB_BODY_BUFFER);
      if (st) {
        api->data_set(raw, const_cast<char*>(&kBuffered), nullptr);
      } else {
        ctx.log().warn("[response-transformer] cannot buffer the response body: ", st.name());
      }
    }
  }
  return sb::Result::Continue;
}

sb::Result ResponseTransformer::body_filter(sb::Ctx& ctx, const Config& cfg,
                                            std::span<const sb_str> chunk, bool eos) {
  const sb_host_api* api = ctx.api();
  sb_ctx* raw = ctx.raw();
  if (!cfg.json_ops || !eos || api->data_get(raw) != &kBuffered) return sb::Result::Continue;
  sb_str ct{nullptr, 0};
  if (api->hdr_get(raw, SB_HDR_RESPONSE, sb::str("Content-Type"), 0, &ct, nullptr) != SB_OK ||
      !mime::is_json(sb::view(ct))) {
    return sb::Result::Continue;
  }
  Scratch& s = t_scratch;
  std::string_view body;
  if (chunk.size() == 1) {
    body = sb::view(chunk[0]);
  } else {
    s.body.clear();
    for (const sb_str& c : chunk) s.body.append(sb::view(c));
    body = s.body;
  }
  s.out.clear();
  if (!transform_json(cfg, body, s.out)) {
    ctx.log().warn("[response-transformer] body transform failed: failed parsing json body");
    return sb::Result::Continue;
  }
  sb::Status st = api->body_set(raw, sb::str(s.out));
  if (!st) ctx.log().err("[response-transformer] cannot replace the body: ", st.name());
  return sb::Result::Continue;
}

bool ResponseTransformer::transform_json(const Config& cfg, std::string_view body,
                                         std::string& out) {
  Scratch& s = t_scratch;
  if (!s.doc.parse(body)) return false;
  json::Kind root = s.doc.root().kind;
  if (root == json::Kind::kArray) {
    // String keys of a Lua array are never encoded: lua-cjson writes the array back as is.
    json::write_compact(out, s.doc, 0);
    return true;
  }
  if (root != json::Kind::kObject) return false;  // Kong fails indexing a non-table
  s.pool.reset();
  json::ObjectEditor& ed = s.editor;
  ed.load(s.doc, s.pool);
  bool encodable = true;
  for (const std::string& name : cfg.remove_json) ed.remove(name);
  for (const Pair& p : cfg.rename_json) {
    if (!p.has_value || !ed.present(p.name)) continue;
    if (p.name == p.value) {
      ed.remove(p.name);  // json_body[new] = value; json_body[old] = nil
    } else {
      ed.rename(p.name, p.value);
    }
  }
  for (const JsonValue& v : cfg.replace_json) {
    if (!v.valid || !ed.truthy(v.name)) continue;
    ed.set(v.name, v.item());
    encodable = encodable && v.encodable;
  }
  for (const JsonValue& v : cfg.add_json) {
    if (!v.valid || ed.truthy(v.name)) continue;
    ed.set(v.name, v.item());
    encodable = encodable && v.encodable;
  }
  for (const JsonValue& v : cfg.append_json) {
    if (!v.valid) continue;
    ed.append(v.name, v.item());
    encodable = encodable && v.encodable;
  }
  if (!encodable) return false;
  ed.write(out);
  return true;
}

}  // namespace sbp
