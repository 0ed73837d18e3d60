#include "request_termination.h"

#include <unistd.h>

#include <string_view>
#include <vector>

#include "json.h"
#include "multipart.h"
#include "text.h"
#include "url.h"

namespace sbp {
namespace {

constexpr std::string_view kJsonType = "application/json; charset=utf-8";

bool is_present(const std::optional<std::string>& v) { return v && !v->empty(); }

std::optional<std::string> string_field(const sb::Value& conf, std::string_view name) {
  sb::Value v = conf[name];
  if (!v.is_string()) return std::nullopt;
  return std::string(v.str());
}

struct Scratch {
  std::vector<url::Arg> args;
  std::string out;
  std::string lower;
  json::Document doc;
  multipart::Body multipart;
};
thread_local Scratch t_scratch;

std::optional<std::string_view> var(const sb_host_api* api, sb_ctx* ctx, uint32_t id) {
  sb_str out{nullptr, 0};
  if (api->var_get(ctx, id, &out) != SB_OK) return std::nullopt;
  return sb::view(out);
}

// kong.request.get_query() reads the query nginx will send on (earlier plugins may have
// changed it), so the upstream query is preferred to the one the client sent.
std::string_view current_query(const sb_host_api* api, sb_ctx* ctx) {
  if (auto q = var(api, ctx, SB_VAR_UPSTREAM_QUERY)) return *q;
  return var(api, ctx, SB_VAR_RAW_QUERY).value_or(std::string_view());
}

void write_opt_string(std::string& out, std::string_view key, std::optional<std::string_view> v,
                      bool comma = true) {
  if (!v) return;
  if (comma) out.push_back(',');
  json::write_string(out, key);
  out.push_back(':');
  json::write_string(out, *v);
}

// {name: value | true | [values...]} as lua-cjson writes kong.request.get_query()'s table.
void write_args(std::string& out, const std::vector<url::Arg>& args, size_t n) {
  out.push_back('{');
  bool first = true;
  for (size_t i = 0; i < n; ++i) {
    bool seen = false;
    for (size_t k = 0; k < i && !seen; ++k) seen = args[k].name == args[i].name;
    if (seen) continue;
    size_t count = 0;
    for (size_t k = i; k < n; ++k) count += args[k].name == args[i].name;
    if (!first) out.push_back(',');
    first = false;
    json::write_string(out, args[i].name);
    out.push_back(':');
    if (count > 1) out.push_back('[');
    bool first_value = true;
    for (size_t k = i; k < n; ++k) {
      if (args[k].name != args[i].name) continue;
      if (!first_value) out.push_back(',');
      first_value = false;
      if (args[k].flag) {
        out.append("true");
      } else {
        json::write_string(out, args[k].value);
      }
    }
    if (count > 1) out.push_back(']');
  }
  out.push_back('}');
}

// kong.request.get_headers(): lower-case names, a repeated header as an array.
void write_headers(const sb_host_api* api, sb_ctx* ctx, std::string& out, std::string& lower) {
  out.push_back('{');
  size_t n = 0;
  if (api->hdr_count(ctx, SB_HDR_REQUEST, &n) != SB_OK) n = 0;
  bool first = true;
  for (size_t i = 0; i < n; ++i) {
    sb_header h{};
    if (api->hdr_at(ctx, SB_HDR_REQUEST, i, &h) != SB_OK) continue;
    std::string_view name = sb::view(h.name);
    bool seen = false;
    for (size_t k = 0; k < i && !seen; ++k) {
      sb_header o{};
      seen = api->hdr_at(ctx, SB_HDR_REQUEST, k, &o) == SB_OK && iequals(sb::view(o.name), name);
    }
    if (seen) continue;
    size_t count = 0;
    for (size_t k = i; k < n; ++k) {
      sb_header o{};
      count += api->hdr_at(ctx, SB_HDR_REQUEST, k, &o) == SB_OK && iequals(sb::view(o.name), name);
    }
    if (!first) out.push_back(',');
    first = false;
    lower.assign(name);
    for (char& c : lower) c = ascii_lower(c);
    json::write_string(out, lower);
    out.push_back(':');
    if (count > 1) out.push_back('[');
    bool first_value = true;
    for (size_t k = i; k < n; ++k) {
      sb_header o{};
      if (api->hdr_at(ctx, SB_HDR_REQUEST, k, &o) != SB_OK || !iequals(sb::view(o.name), name)) {
        continue;
      }
      if (!first_value) out.push_back(',');
      first_value = false;
      json::write_string(out, sb::view(o.value));
    }
    if (count > 1) out.push_back(']');
  }
  out.push_back('}');
}

bool starts_with_ci(std::string_view s, std::string_view lower_prefix) {
  return s.size() >= lower_prefix.size() && iequals(s.substr(0, lower_prefix.size()), lower_prefix);
}

// kong.request.get_body(): the body parsed by Content-Type; false when Kong returns nil.
bool write_body(const sb_host_api* api, sb_ctx* ctx, std::string_view raw, Scratch& s,
                std::string& out) {
  sb_str ct_raw{nullptr, 0};
  if (api->hdr_get(ctx, SB_HDR_REQUEST, sb::str("Content-Type"), 0, &ct_raw, nullptr) != SB_OK) {
    return false;  // "missing content type"
  }
  std::string_view ct = sb::view(ct_raw);
  std::string_view media = ct.substr(0, ct.find(';'));
  if (starts_with_ci(media, "application/x-www-form-urlencoded")) {
    size_t n = url::parse_args(raw, s.args, 0);
    out.append(",\"body\":");
    write_args(out, s.args, n);
    return true;
  }
  if (starts_with_ci(media, "application/json")) {
    if (!s.doc.parse(raw)) return false;
    json::Kind k = s.doc.root().kind;
    if (k != json::Kind::kObject && k != json::Kind::kArray) return false;  // "invalid json body"
    out.append(",\"body\":");
    json::write_compact(out, s.doc, 0);
    return true;
  }
  if (starts_with_ci(media, "multipart/form-data")) {
    std::optional<std::string_view> b = multipart::boundary(ct);
    s.multipart.parse(b ? raw : std::string_view(), b ? *b : std::string_view());
    const auto& parts = s.multipart.parts();
    out.append(",\"body\":{");
    bool first = true;
    for (size_t i = 0; i < parts.size(); ++i) {
      bool seen = false;
      for (size_t k = 0; k < i && !seen; ++k) seen = parts[k].name == parts[i].name;
      if (seen) continue;
      size_t count = 0;
      for (size_t k = i; k < parts.size(); ++k) count += parts[k].name == parts[i].name;
      if (!first) out.push_back(',');
      first = false;
      json::write_string(out, parts[i].name);
      out.push_back(':');
      if (count > 1) out.push_back('[');
      bool first_value = true;
      for (size_t k = i; k < parts.size(); ++k) {
        if (parts[k].name != parts[i].name) continue;
        if (!first_value) out.push_back(',');
        first_value = false;
        json::write_string(out, parts[k].value);
      }
      if (count > 1) out.push_back(']');
    }
    out.push_back('}');
    return true;
  }
  return false;  // "unsupported content type"
}

void write_entity(const sb_host_api* api, sb_ctx* ctx, std::string& out, std::string_view key,
                  uint32_t id_var, uint32_t name_var) {
  std::optional<std::string_view> id = var(api, ctx, id_var);
  if (!id) return;
  out.push_back(',');
  json::write_string(out, key);
  out.append(":{");
  write_opt_string(out, "id", id, false);
  write_opt_string(out, "name", var(api, ctx, name_var));
  out.push_back('}');
}

}  // namespace

const char* RequestTermination::default_message(int status) {
  switch (status) {
    case 401:
      return "Unauthorized";
    case 404:
      return "Not found";
    case 405:
      return "Method not allowed";
    case 500:
      return "An unexpected error occurred";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service unavailable";
    default:
      return nullptr;
  }
}

RequestTermination::Config RequestTermination::compile(const sb::Value& conf) {
  Config c;
  sb::Value status = conf["status_code"];
  if (status) {
    if (!status.is_integer()) throw sb::ConfigError("config.status_code: expected an integer");
    int64_t v = status.integer();
    if (v < 100 || v > 599) {
      throw sb::ConfigError("config.status_code: value should be between 100 and 599");
    }
    c.status = static_cast<int>(v);
  }
  std::optional<std::string> message = string_field(conf, "message");
  std::optional<std::string> content_type = string_field(conf, "content_type");
  std::optional<std::string> body = string_field(conf, "body");
  c.echo = conf["echo"].boolean();
  c.trigger = string_field(conf, "trigger");

  // schema.lua's custom_validator, in its order and words.
  if (is_present(message) && (is_present(content_type) || is_present(body))) {
    throw sb::ConfigError("config: message cannot be used with content_type or body");
  }
  if (is_present(content_type) && !is_present(body)) {
    throw sb::ConfigError("config: content_type requires a body");
  }
  if (c.echo && (is_present(content_type) || is_present(body))) {
    throw sb::ConfigError("config: echo cannot be used with content_type and body");
  }
  // typedefs.header_name (kong.tools.http.validate_header_name).
  if (c.trigger) {
    if (c.trigger->empty()) throw sb::ConfigError("config.trigger: no header name provided");
    if (!valid_header_name(*c.trigger)) {
      throw sb::ConfigError("config.trigger: bad header name '" + *c.trigger +
                            "', allowed characters are A-Z, a-z, 0-9, '_', and '-'");
    }
  }

  if (message) {
    c.message = message;
  } else if (const char* d = default_message(c.status)) {
    c.message = std::string(d);
  }
  if (body) {
    // kong.response.exit(status, conf.body, {["Content-Type"] = conf.content_type})
    c.has_body = true;
    c.body = *body;
    c.content_type = content_type;
  } else if (c.message) {
    // kong.response.exit(status, {message = message}): lua-cjson and the JSON content type.
    c.has_body = true;
    c.body = "{\"message\":";
    json::write_string(c.body, *c.message);
    c.body.push_back('}');
    c.content_type = std::string(kJsonType);
  }
  return c;
}

uint32_t RequestTermination::flags(const Config& cfg) {
  return cfg.echo ? SB_CFG_READS_REQUEST_BODY : 0u;
}

sb::Result RequestTermination::access(sb::Ctx& ctx, const Config& cfg) {
  const sb_host_api* api = ctx.api();
  sb_ctx* raw = ctx.raw();
  if (cfg.trigger) {
    size_t count = 0;
    bool found =
        api->hdr_get(raw, SB_HDR_REQUEST, sb::str(*cfg.trigger), 0, nullptr, &count) == SB_OK &&
        count > 0;
    if (!found) {
      Scratch& s = t_scratch;
      size_t n = url::parse_args(current_query(api, raw), s.args, 0);
      for (size_t i = 0; i < n && !found; ++i) found = s.args[i].name == *cfg.trigger;
    }
    if (!found) return sb::Result::Continue;  // trigger set but not found, nothing to do
  }
  sb::Status st;
  if (cfg.echo) {
    std::string& out = t_scratch.out;
    echo_json(ctx, cfg, out);
    sb_header h{sb::str("Content-Type"), sb::str(kJsonType)};
    st = api->respond(raw, cfg.status, &h, 1, sb::str(out));
  } else if (cfg.content_type) {
    sb_header h{sb::str("Content-Type"), sb::str(*cfg.content_type)};
    st = api->respond(raw, cfg.status, &h, 1, sb::str(cfg.body));
  } else {
    st = api->respond(raw, cfg.status, nullptr, 0, sb::str(cfg.has_body ? cfg.body : ""));
  }
  if (!st) {
    ctx.log().err("[request-termination] respond failed: ", st.name());
    return sb::Result::Error;
  }
  return sb::Result::Exited;
}

void RequestTermination::echo_json(sb::Ctx& ctx, const Config& cfg, std::string& out) {
  const sb_host_api* api = ctx.api();
  sb_ctx* raw = ctx.raw();
  Scratch& s = t_scratch;
  out.clear();
  out.push_back('{');
  // message = conf.message or DEFAULT_RESPONSE[status]
  if (cfg.message) {
    out.append("\"message\":");
    json::write_string(out, *cfg.message);
    out.push_back(',');
  }
  out.append("\"kong\":{");
  bool any = false;
  if (auto id = var(api, raw, SB_VAR_NODE_ID)) {
    write_opt_string(out, "node_id", id, false);
    any = true;
  }
  if (any) out.push_back(',');
  // Workers are threads of one process here: the process id is every worker's pid.
  out.append("\"worker_pid\":").append(std::to_string(static_cast<long>(getpid())));
  write_opt_string(out, "hostname", var(api, raw, SB_VAR_HOSTNAME));
  out.append("},\"request\":{");
  write_opt_string(out, "scheme", var(api, raw, SB_VAR_SCHEME), false);
  write_opt_string(out, "host", var(api, raw, SB_VAR_HOST));
  int64_t port = 0;
  if (api->num_get(raw, SB_NUM_SERVER_PORT, &port) == SB_OK) {
    out.append(",\"port\":").append(std::to_string(port));
  }
  out.append(",\"headers\":");
  write_headers(api, raw, out, s.lower);
  out.append(",\"query\":");
  size_t n = url::parse_args(current_query(api, raw), s.args, 0);
  write_args(out, s.args, n);
  sb_str body_raw{nullptr, 0};
  if (api->request_body_get(raw, &body_raw) == SB_OK) {
    std::string_view body = sb::view(body_raw);
    write_body(api, raw, body, s, out);
    write_opt_string(out, "raw_body", body);
  }
  // kong.request.get_method() follows kong.service.request.set_method().
  std::optional<std::string_view> method = var(api, raw, SB_VAR_UPSTREAM_METHOD);
  write_opt_string(out, "method", method ? method : var(api, raw, SB_VAR_METHOD));
  write_opt_string(out, "path", var(api, raw, SB_VAR_PATH));
  // get_uri_captures(): unnamed groups by number; named groups cannot be listed through the
  // PDK (route_capture needs the name), so `named` stays empty.
  out.append(",\"uri_captures\":{\"unnamed\":[");
  for (int i = 1; i <= 64; ++i) {
    sb_str cap{nullptr, 0};
    if (api->route_capture(raw, sb::str(std::to_string(i)), &cap) != SB_OK) break;
    if (i > 1) out.push_back(',');
    json::write_string(out, sb::view(cap));
  }
  out.append("],\"named\":{}}}");
  // kong.router.get_route() / get_service(): the PDK gives their id and name only.
  write_entity(api, raw, out, "matched_route", SB_VAR_ROUTE_ID, SB_VAR_ROUTE_NAME);
  write_entity(api, raw, out, "matched_service", SB_VAR_SERVICE_ID, SB_VAR_SERVICE_NAME);
  out.push_back('}');
}

}  // namespace sbp
