// key-auth, as Kong 3.9 (kong/plugins/key-auth/handler.lua): see key_auth.h.
#include "key_auth.h"

#include <string>
#include <string_view>

#include "sources.h"

namespace sbp::key_auth {

// Kong's plugin schema (schema.lua) in the host's JSON shape. `consumer` is typedefs.no_consumer
// (key-auth cannot be consumer-scoped); key_names' elements are typedefs.header_name, whose
// custom validator is applied in compile().
const char kConfigSchema[] = R"({
  "name": "key-auth",
  "fields": [
    {"consumer": {"type": "foreign", "reference": "consumers", "eq": null}},
    {"protocols": {"type": "set", "required": true, "default": ["grpc", "grpcs", "http", "https"],
                   "elements": {"type": "string", "one_of": ["grpc", "grpcs", "http", "https"]}}},
    {"config": {"type": "record", "fields": [
      {"key_names": {"type": "array", "required": true, "default": ["apikey"],
                     "elements": {"type": "string"},
                     "description": "Names of the headers, query arguments or body fields holding the key."}},
      {"hide_credentials": {"type": "boolean", "required": true, "default": false,
                            "description": "Remove the key from the request sent upstream."}},
      {"anonymous": {"type": "string",
                     "description": "Consumer id or username used when authentication fails."}},
      {"key_in_header": {"type": "boolean", "required": true, "default": true}},
      {"key_in_query": {"type": "boolean", "required": true, "default": true}},
      {"key_in_body": {"type": "boolean", "required": true, "default": false}},
      {"run_on_preflight": {"type": "boolean", "required": true, "default": true}},
      {"realm": {"type": "string", "required": false,
                 "description": "realm attribute of the WWW-Authenticate header."}}
    ]}}
  ]
})";

// Kong's DAO schema (daos.lua): keys are unique, generated when absent; `ttl = true` lets a
// credential carry a ttl; the cache key (and entity_find's O(1) index) is the key itself.
const char kEntitiesSchema[] = R"([
  {
    "name": "keyauth_credentials",
    "primary_key": ["id"],
    "endpoint_key": "key",
    "cache_key": ["key"],
    "ttl": true,
    "workspaceable": true,
    "admin_api_name": "key-auths",
    "admin_api_nested_name": "key-auth",
    "fields": [
      {"id": {"type": "string", "uuid": true, "auto": true}},
      {"created_at": {"type": "integer", "timestamp": true, "auto": true}},
      {"consumer": {"type": "foreign", "reference": "consumers", "required": true,
                    "on_delete": "cascade"}},
      {"key": {"type": "string", "required": false, "unique": true, "auto": true}},
      {"tags": {"type": "set", "elements": {"type": "string", "required": true}}}
    ]
  }
])";

namespace {

constexpr std::string_view kCredentials = "keyauth_credentials";
constexpr std::string_view kHeaderConsumerId = "X-Consumer-ID";
constexpr std::string_view kHeaderConsumerCustomId = "X-Consumer-Custom-ID";
constexpr std::string_view kHeaderConsumerUsername = "X-Consumer-Username";
constexpr std::string_view kHeaderCredentialIdentifier = "X-Credential-Identifier";
constexpr std::string_view kHeaderAnonymous = "X-Anonymous-Consumer";

// Per worker thread: the key found (copied out of the host's views before the request is
// changed) and scratch space for decoding and rewriting. They keep their capacity, so the
// steady state allocates nothing.
struct Scratch {
  std::string key;
  std::string decoded;
  std::string rewritten;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

enum class Outcome {
  kAuthenticated,
  kNoKey,       // 401 No API key found in request
  kDuplicate,   // 401 Duplicate API key found
  kInvalid,     // 401 Unauthorized (unknown or expired key)
  kUnexpected,  // 500 An unexpected error occurred (consumer look-up failed)
  kFault,       // a Lua error() in Kong: the runtime error path (500 by the host)
};

std::string_view view_of(const sb_str& s) { return sb::view(s); }

bool get_bool(const sb::Value& conf, std::string_view key, bool fallback) {
  sb::Value v = conf[key];
  return v.is_bool() ? v.boolean() : fallback;
}

std::optional<std::string> get_string(const sb::Value& conf, std::string_view key) {
  sb::Value v = conf[key];
  if (!v.is_string()) return std::nullopt;
  return v.string();
}

// The request body as kong.request.get_body() parses it, read on first use.
class Body {
 public:
  explicit Body(sb::Ctx& ctx) : ctx_(ctx) {}

  Lookup lookup(std::string_view name, std::string* out) {
    load();
    switch (kind_) {
      case BodyKind::kForm:
        return form_lookup(raw_, name, out);
      case BodyKind::kJson:
        return json_lookup(raw_, name, out);
      case BodyKind::kMultipart:
        return multipart_lookup(raw_, boundary_, name, out);
      case BodyKind::kNone:
        break;
    }
    return {};
  }

  // hide_credentials: the body sent upstream without `name` (Kong: body[name] = nil, then
  // kong.service.request.set_body(body)). Other fields keep their bytes and order.
  sb::Status remove(std::string_view name, std::string* tmp) {
    load();
    bool changed = false;
    switch (kind_) {
      case BodyKind::kForm:
        changed = form_remove(raw_, name, tmp);
        break;
      case BodyKind::kJson:
        changed = json_remove(raw_, name, tmp);
        break;
      case BodyKind::kMultipart:
        changed = multipart_remove(raw_, boundary_, name, tmp);
        break;
      case BodyKind::kNone:
        break;
    }
    if (!changed) return SB_OK;
    sb::Status st = ctx_.service_request().set_raw_body(*tmp);
    loaded_ = false;  // the host's view of the body changed
    return st;
  }

 private:
  void load() {
    if (loaded_) return;
    loaded_ = true;
    kind_ = BodyKind::kNone;
    auto content_type = ctx_.request().header("Content-Type");
    if (!content_type) return;  // Kong: "missing content type", the body is ignored
    BodyKind kind = body_kind(*content_type);
    if (kind == BodyKind::kNone) return;  // "unsupported content type"
    // Copied: hiding a header changes the header map, which ends views into it.
    if (kind == BodyKind::kMultipart) boundary_.assign(multipart_boundary(*content_type));
    auto body = ctx_.request().body();
    if (!body) {
      ctx_.log().info("Cannot process request body: request body not available");
      return;
    }
    raw_ = *body;
    kind_ = kind;
  }

  sb::Ctx& ctx_;
  bool loaded_ = false;
  BodyKind kind_ = BodyKind::kNone;
  std::string_view raw_;
  std::string boundary_;
};

// One header value of the client request: count (0 = absent) and the first value.
size_t request_header(sb::Ctx& ctx, std::string_view name, std::string_view* value) {
  sb_str out{nullptr, 0};
  size_t count = 0;
  if (ctx.api()->hdr_get(ctx.raw(), SB_HDR_REQUEST, sb::str(name), 0, &out, &count) != SB_OK)
    return 0;
  *value = view_of(out);
  return count;
}

Lookup query_lookup(sb::Ctx& ctx, std::string_view name) {
  Lookup r;
  sb_str out{nullptr, 0};
  size_t count = 0;
  if (ctx.api()->query_get(ctx.raw(), sb::str(name), 0, &out, &count) != SB_OK || count == 0)
    return r;
  if (count > 1) {
    r.found = Found::kMulti;
    return r;
  }
  r.value = view_of(out);
  // The host reads `?apikey` and `?apikey=` both as "": Kong sees `true` for the first (not a
  // string, so this key name is skipped) and "" for the second ("No API key found").
  if (r.value.empty() && form_is_flag(ctx.request().raw_query(), name)) {
    r.found = Found::kOther;
    return r;
  }
  r.found = Found::kString;
  return r;
}

sb::Status set_or_clear(sb::Ctx& ctx, std::string_view header, std::string_view value, bool set) {
  auto req = ctx.service_request();
  sb::Status st = set ? req.set_header(header, value) : req.clear_header(header);
  return st.code() == SB_E_NOT_FOUND ? sb::Status() : st;
}

std::string_view id_of(const sb::Value& row) {
  sb::Value id = row["id"];
  return id.is_string() ? id.str() : std::string_view();
}

// Kong's set_consumer(consumer, credential): authenticate, then the upstream headers, each
// either set or removed so that client-supplied copies never reach the upstream.
bool set_consumer(sb::Ctx& ctx, const sb::Value& consumer, const sb::Value& credential) {
  std::string_view consumer_id = consumer ? id_of(consumer) : std::string_view();
  std::string_view credential_id = credential ? id_of(credential) : std::string_view();
  sb::Status st = ctx.client().authenticate(
      consumer_id, credential_id.empty() ? std::string_view() : kCredentials, credential_id);
  if (!st) {
    ctx.log().err("kong.client.authenticate failed: ", st.name());
    return false;
  }
  sb::Value custom_id = consumer ? consumer["custom_id"] : sb::Value();
  sb::Value username = consumer ? consumer["username"] : sb::Value();
  bool ok = set_or_clear(ctx, kHeaderConsumerId, consumer_id, !consumer_id.empty()) &&
            set_or_clear(ctx, kHeaderConsumerCustomId, custom_id.str(), custom_id.is_string()) &&
            set_or_clear(ctx, kHeaderConsumerUsername, username.str(), username.is_string()) &&
            set_or_clear(ctx, kHeaderCredentialIdentifier, credential_id, !credential_id.empty()) &&
            set_or_clear(ctx, kHeaderAnonymous, "true", !credential);
  if (!ok) ctx.log().err("could not set the consumer headers");
  return ok;
}

// A credential row is expired when its ttl has passed. In DB-less Kong (the "off" strategy's
// process_ttl_field) a row's `ttl` is the Unix time, in seconds, at which it expires: rows with
// ttl <= now are invisible. A null/absent ttl never expires.
bool expired(sb::Ctx& ctx, const sb::Value& row) {
  sb::Value ttl = row["ttl"];
  if (!ttl.is_number()) return false;
  int64_t now_s = ctx.now_ms() / 1000;
  return ttl.number() <= static_cast<double>(now_s);
}

std::string_view consumer_id_of(const sb::Value& credential) {
  sb::Value c = credential["consumer"];
  if (c.is_object()) return id_of(c);
  return c.is_string() ? c.str() : std::string_view();  // a host may flatten the foreign key
}

// Kong's do_authentication(conf).
Outcome authenticate(sb::Ctx& ctx, const KeyAuth::Config& cfg) {
  Scratch& s = scratch();
  Body body(ctx);
  bool found_key = false;
  for (const std::string& name : cfg.key_names) {
    Lookup v;
    if (cfg.key_in_header) {
      std::string_view value;
      size_t count = request_header(ctx, name, &value);
      if (count > 1) {
        v.found = Found::kMulti;
      } else if (count == 1) {
        v.found = Found::kString;
        v.value = value;
      }
    }
    if (v.found == Found::kAbsent && cfg.key_in_query) v = query_lookup(ctx, name);
    if (v.found == Found::kAbsent && cfg.key_in_body) v = body.lookup(name, &s.decoded);

    if (v.found == Found::kMulti) return Outcome::kDuplicate;
    if (v.found != Found::kString) continue;  // a flag, number, boolean or null: not a key

    s.key.assign(v.value);  // the views die with the changes below
    found_key = true;
    if (cfg.hide_credentials) {
      auto upstream = ctx.service_request();
      auto query = upstream.raw_query();
      if (query && !query->empty()) {
        query_remove_whatwg(*query, name, &s.rewritten);
        if (!upstream.set_raw_query(s.rewritten)) return Outcome::kFault;
      }
      if (sb::Status st = upstream.clear_header(name); !st && st.code() != SB_E_NOT_FOUND)
        return Outcome::kFault;
      if (cfg.key_in_body && !body.remove(name, &s.rewritten)) return Outcome::kFault;
    }
    break;
  }
  if (!found_key || s.key.empty()) return Outcome::kNoKey;

  const sb_value* row = nullptr;
  sb_status st = ctx.api()->entity_find(ctx.raw(), sb::str(kCredentials), sb::str("key"),
                                        sb::str(s.key), &row);
  if (st == SB_E_NOT_FOUND) return Outcome::kInvalid;
  if (st != SB_OK) {
    ctx.log().err("could not look up the credential: ", sb::status_name(st));
    return Outcome::kFault;
  }
  sb::Value credential(ctx.api(), row);
  if (expired(ctx, credential)) {
    ctx.log().debug("key expired");
    return Outcome::kInvalid;
  }

  sb::Value consumer;
  std::string_view consumer_id = consumer_id_of(credential);
  if (!consumer_id.empty()) {
    const sb_value* c = nullptr;
    st = ctx.api()->entity_find(ctx.raw(), sb::str("consumers"), sb::str("id"),
                                sb::str(consumer_id), &c);
    if (st == SB_OK) {
      consumer = sb::Value(ctx.api(), c);
    } else if (st != SB_E_NOT_FOUND) {
      ctx.log().err("could not load the consumer: ", sb::status_name(st));
      return Outcome::kUnexpected;
    }
  }
  return set_consumer(ctx, consumer, credential) ? Outcome::kAuthenticated : Outcome::kFault;
}

// Kong's set_anonymous_consumer: kong.client.load_consumer(anonymous, true), i.e. by id when it
// is a UUID, then by username.
sb::Result set_anonymous(sb::Ctx& ctx, const std::string& anonymous) {
  auto client = ctx.client();
  sb::Value consumer;
  if (is_uuid(anonymous)) consumer = client.load_consumer(anonymous);
  if (!consumer) consumer = client.load_consumer(anonymous, true);
  if (!consumer) {
    // 3.9 then calls kong.client.authenticate(nil, nil), which raises: a 500 "An unexpected
    // error occurred". (3.10 answers 500 with this message instead.)
    ctx.log().err("anonymous consumer ", anonymous, " is configured but doesn't exist");
    return sb::Result::Error;
  }
  return set_consumer(ctx, consumer, sb::Value()) ? sb::Result::Continue : sb::Result::Error;
}

}  // namespace

std::optional<std::string> header_name_error(std::string_view name) {
  if (name.empty()) return std::string("no header name provided");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) {
      return "bad header name '" + std::string(name) +
             "', allowed characters are A-Z, a-z, 0-9, '_', and '-'";
    }
  }
  return std::nullopt;
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

KeyAuth::Config KeyAuth::compile(const sb::Value& conf) {
  Config c;
  sb::Value names = conf["key_names"];
  if (names.is_array()) {
    c.key_names.clear();
    for (size_t i = 0; i < names.size(); ++i) {
      sb::Value n = names[i];
      if (!n.is_string()) {
        throw sb::ConfigError("config.key_names." + std::to_string(i + 1) + ": expected a string");
      }
      if (auto err = header_name_error(n.str())) {
        throw sb::ConfigError("config.key_names." + std::to_string(i + 1) + ": " + *err);
      }
      c.key_names.emplace_back(n.str());
    }
  } else if (names && !names.is_null()) {
    throw sb::ConfigError("config.key_names: expected an array");
  }
  c.hide_credentials = get_bool(conf, "hide_credentials", false);
  c.anonymous = get_string(conf, "anonymous");
  c.key_in_header = get_bool(conf, "key_in_header", true);
  c.key_in_query = get_bool(conf, "key_in_query", true);
  c.key_in_body = get_bool(conf, "key_in_body", false);
  c.run_on_preflight = get_bool(conf, "run_on_preflight", true);
  c.realm = get_string(conf, "realm");
  // Kong strings have len_min 1 unless the schema says otherwise.
  if (c.anonymous && c.anonymous->empty())
    throw sb::ConfigError("config.anonymous: length must be at least 1");
  if (c.realm && c.realm->empty()) throw sb::ConfigError("config.realm: length must be at least 1");
  c.www_authenticate = c.realm ? "Key realm=\"" + *c.realm + "\"" : "Key";
  return c;
}

sb::Result KeyAuth::access(sb::Ctx& ctx, const Config& cfg) {
  if (!cfg.run_on_preflight && ctx.request().method() == "OPTIONS") return sb::Result::Continue;

  if (cfg.anonymous) {
    // "Logical OR": a credential from another auth plugin is enough.
    if (ctx.client().credential()) return sb::Result::Continue;
    Outcome o = authenticate(ctx, cfg);
    if (o == Outcome::kAuthenticated) return sb::Result::Continue;
    if (o == Outcome::kFault) return sb::Result::Error;
    return set_anonymous(ctx, *cfg.anonymous);
  }

  // "Logical AND": this plugin must authenticate the request itself.
  std::string_view message;
  switch (authenticate(ctx, cfg)) {
    case Outcome::kAuthenticated:
      return sb::Result::Continue;
    case Outcome::kFault:
      return sb::Result::Error;
    case Outcome::kUnexpected:
      return ctx.response().error(500, kErrUnexpected);
    case Outcome::kNoKey:
      message = kErrNoKey;
      break;
    case Outcome::kDuplicate:
      message = kErrDuplicate;
      break;
    case Outcome::kInvalid:
      message = kErrInvalid;
      break;
  }
  return ctx.response().error(401, message, {{"WWW-Authenticate", cfg.www_authenticate}});
}

}  // namespace sbp::key_auth
