// rate-limiting, as Kong 3.9 (kong/plugins/rate-limiting/handler.lua): see rate_limiting.h.
#include "rate_limiting.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

namespace sbp::rate_limiting {

// Kong's schema.lua as seen by a DB-less node (policy one_of local/redis: `cluster` is a
// validation error), in the host's JSON shape. typedefs: header_name (custom validator, applied
// in compile()), path, port, timeout, sni. The redis_* shorthand fields are 3.6+'s deprecated
// aliases of config.redis.*.
const char kConfigSchema[] = R"({
  "name": "rate-limiting",
  "fields": [
    {"protocols": {"type": "set", "required": true, "default": ["grpc", "grpcs", "http", "https"],
                   "elements": {"type": "string", "one_of": ["grpc", "grpcs", "http", "https"]}}},
    {"config": {"type": "record", "fields": [
      {"second": {"type": "number", "gt": 0, "description": "Requests allowed per second."}},
      {"minute": {"type": "number", "gt": 0, "description": "Requests allowed per minute."}},
      {"hour": {"type": "number", "gt": 0, "description": "Requests allowed per hour."}},
      {"day": {"type": "number", "gt": 0, "description": "Requests allowed per day."}},
      {"month": {"type": "number", "gt": 0, "description": "Requests allowed per month."}},
      {"year": {"type": "number", "gt": 0, "description": "Requests allowed per year."}},
      {"limit_by": {"type": "string", "default": "consumer",
                    "one_of": ["consumer", "credential", "ip", "service", "header", "path"]}},
      {"header_name": {"type": "string"}},
      {"path": {"type": "string", "starts_with": "/",
                "match_none": [{"pattern": "//", "err": "must not have empty segments"}]}},
      {"policy": {"type": "string", "default": "local", "len_min": 0,
                  "one_of": ["local", "redis"]}},
      {"fault_tolerant": {"type": "boolean", "required": true, "default": true}},
      {"redis": {"type": "record", "fields": [
        {"host": {"type": "string"}},
        {"port": {"type": "integer", "between": [0, 65535], "default": 6379}},
        {"timeout": {"type": "integer", "between": [0, 2147483646], "default": 2000}},
        {"username": {"type": "string", "referenceable": true}},
        {"password": {"type": "string", "len_min": 0, "encrypted": true, "referenceable": true}},
        {"database": {"type": "integer", "default": 0}},
        {"ssl": {"type": "boolean", "required": false, "default": false}},
        {"ssl_verify": {"type": "boolean", "required": false, "default": false}},
        {"server_name": {"type": "string", "required": false}}
      ]}},
      {"hide_client_headers": {"type": "boolean", "required": true, "default": false}},
      {"error_code": {"type": "number", "default": 429, "gt": 0}},
      {"error_message": {"type": "string", "default": "API rate limit exceeded"}},
      {"sync_rate": {"type": "number", "required": true, "default": -1}}
    ],
    "shorthand_fields": [
      {"redis_host": {"type": "string", "deprecation": {"replaced_with": [{"path": ["redis", "host"]}], "removal_in_version": "4.0", "message": "rate-limiting: config.redis_host is deprecated, please use config.redis.host instead"}}},
      {"redis_port": {"type": "integer", "deprecation": {"replaced_with": [{"path": ["redis", "port"]}], "removal_in_version": "4.0", "message": "rate-limiting: config.redis_port is deprecated, please use config.redis.port instead"}}},
      {"redis_password": {"type": "string", "len_min": 0, "deprecation": {"replaced_with": [{"path": ["redis", "password"]}], "removal_in_version": "4.0", "message": "rate-limiting: config.redis_password is deprecated, please use config.redis.password instead"}}},
      {"redis_username": {"type": "string", "deprecation": {"replaced_with": [{"path": ["redis", "username"]}], "removal_in_version": "4.0", "message": "rate-limiting: config.redis_username is deprecated, please use config.redis.username instead"}}},
      {"redis_ssl": {"type": "boolean", "deprecation": {"replaced_with": [{"path": ["redis", "ssl"]}], "removal_in_version": "4.0", "message": "rate-limiting: config.redis_ssl is deprecated, please use config.redis.ssl instead"}}},
      {"redis_ssl_verify": {"type": "boolean", "deprecation": {"replaced_with": [{"path": ["redis", "ssl_verify"]}], "removal_in_version": "4.0", "message": "rate-limiting: config.redis_ssl_verify is deprecated, please use config.redis.ssl_verify instead"}}},
      {"redis_server_name": {"type": "string", "deprecation": {"replaced_with": [{"path": ["redis", "server_name"]}], "removal_in_version": "4.0", "message": "rate-limiting: config.redis_server_name is deprecated, please use config.redis.server_name instead"}}},
      {"redis_timeout": {"type": "integer", "deprecation": {"replaced_with": [{"path": ["redis", "timeout"]}], "removal_in_version": "4.0", "message": "rate-limiting: config.redis_timeout is deprecated, please use config.redis.timeout instead"}}},
      {"redis_database": {"type": "integer", "deprecation": {"replaced_with": [{"path": ["redis", "database"]}], "removal_in_version": "4.0", "message": "rate-limiting: config.redis_database is deprecated, please use config.redis.database instead"}}}
    ]}}
  ],
  "entity_checks": [
    {"at_least_one_of": ["config.second", "config.minute", "config.hour", "config.day",
                         "config.month", "config.year"]},
    {"conditional": {"if_field": "config.policy", "if_match": {"eq": "redis"},
                     "then_field": "config.redis.host", "then_match": {"required": true}}},
    {"conditional": {"if_field": "config.policy", "if_match": {"eq": "redis"},
                     "then_field": "config.redis.port", "then_match": {"required": true}}},
    {"conditional": {"if_field": "config.policy", "if_match": {"eq": "redis"},
                     "then_field": "config.redis.timeout", "then_match": {"required": true}}},
    {"conditional": {"if_field": "config.limit_by", "if_match": {"eq": "header"},
                     "then_field": "config.header_name", "then_match": {"required": true}}},
    {"conditional": {"if_field": "config.limit_by", "if_match": {"eq": "path"},
                     "then_field": "config.path", "then_match": {"required": true}}}
  ]
})";

namespace {

constexpr std::string_view kEmptyUuid = "00000000-0000-0000-0000-000000000000";
constexpr std::string_view kLimitHeaders[kPeriods] = {
    "X-RateLimit-Limit-Second", "X-RateLimit-Limit-Minute", "X-RateLimit-Limit-Hour",
    "X-RateLimit-Limit-Day",    "X-RateLimit-Limit-Month",  "X-RateLimit-Limit-Year"};
constexpr std::string_view kRemainingHeaders[kPeriods] = {
    "X-RateLimit-Remaining-Second", "X-RateLimit-Remaining-Minute", "X-RateLimit-Remaining-Hour",
    "X-RateLimit-Remaining-Day",    "X-RateLimit-Remaining-Month",  "X-RateLimit-Remaining-Year"};

std::string get_string(const sb::Value& conf, std::string_view key, std::string_view fallback) {
  sb::Value v = conf[key];
  return std::string(v.is_string() ? v.str() : fallback);
}

bool header_name_ok(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

// Kong's validate_periods_order (schema.lua), including its "%.1f" formatting.
std::optional<std::string> periods_order_error(const RateLimiting::Config& c) {
  for (int i = 0; i < kPeriods; ++i) {
    if (!(c.mask & (1u << i))) continue;
    for (int j = i + 1; j < kPeriods; ++j) {
      if (!(c.mask & (1u << j)) || !(c.limit[j] < c.limit[i])) continue;
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "The limit for %s(%.1f) cannot be lower than the limit for %s(%.1f)",
                    kPeriodNames[j], c.limit[j], kPeriodNames[i], c.limit[i]);
      return std::string(buf);
    }
  }
  return std::nullopt;
}

struct Scratch {
  std::string key;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Kong's get_identifier(conf).
std::string_view identifier(sb::Ctx& ctx, const RateLimiting::Config& cfg) {
  std::optional<std::string_view> id;
  switch (cfg.limit_by) {
    case LimitBy::kService:
      id = ctx.router().service_id();
      break;
    case LimitBy::kConsumer:
      id = ctx.client().consumer_id();
      if (!id) id = ctx.client().credential_id();
      break;
    case LimitBy::kCredential:
      id = ctx.client().credential_id();
      break;
    case LimitBy::kHeader:
      id = ctx.request().header(cfg.header_name);  // present but empty still counts, as Lua ""
      break;
    case LimitBy::kPath: {
      std::string_view path = ctx.request().path();
      if (path == cfg.path) id = path;
      break;
    }
    case LimitBy::kIp:
      break;
  }
  return id ? *id : ctx.client().forwarded_ip();
}

// Re-arms itself until the worker stops (a NULL ctx or a failed status).
void schedule_sweep(sb::WorkerCtx& worker) {
  sb::Op op = worker.timer(kSweepIntervalMs, [](sb::WorkerCtx* w, sb::Status st) {
    if (w == nullptr || !st) return;
    // The ABI has no clock on a worker ctx: the wall clock, one second behind so that an entry
    // is never dropped in the last instant of its window as a request loop sees it.
    int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    w->state<RateLimiting>().counters.sweep(now_s - 1);
    schedule_sweep(*w);
  });
  if (!op) worker.log().warn("could not start the counter sweep timer: ", op.status().name());
}

bool set_header(sb::Ctx& ctx, std::string_view name, std::string_view value) {
  sb::Status st = ctx.response().set_header(name, value);
  if (!st) ctx.log().err("could not set ", name, ": ", st.name());
  return st.ok();
}

}  // namespace

size_t format_number(double v, char* buf, size_t cap) {
  // Whole numbers (every "remaining" value) skip printf: this runs per request and window.
  if (v >= 0 && v < 1e15 && v == static_cast<double>(static_cast<int64_t>(v))) {
    auto r = std::to_chars(buf, buf + cap, static_cast<int64_t>(v));
    if (r.ec == std::errc()) return static_cast<size_t>(r.ptr - buf);
  }
  int n = std::snprintf(buf, cap, "%.14g", v);
  return n < 0 ? 0 : std::min(static_cast<size_t>(n), cap - 1);
}

RateLimiting::Config RateLimiting::compile(const sb::Value& conf, State& state) {
  Config c;
  for (int p = 0; p < kPeriods; ++p) {
    sb::Value v = conf[kPeriodNames[p]];
    if (!v.is_number()) continue;
    double limit = v.number();
    if (!(limit > 0)) {
      throw sb::ConfigError(std::string("config.") + kPeriodNames[p] +
                            ": value must be greater than 0");
    }
    c.mask |= static_cast<uint8_t>(1u << p);
    c.limit[p] = limit;
    char buf[32];
    c.limit_text[p].assign(buf, format_number(limit, buf, sizeof buf));
  }
  if (c.mask == 0) {
    throw sb::ConfigError(
        "at least one of these fields must be non-empty: 'config.second', 'config.minute', "
        "'config.hour', 'config.day', 'config.month', 'config.year'");
  }

  std::string limit_by = get_string(conf, "limit_by", "consumer");
  if (limit_by == "consumer") {
    c.limit_by = LimitBy::kConsumer;
  } else if (limit_by == "credential") {
    c.limit_by = LimitBy::kCredential;
  } else if (limit_by == "ip") {
    c.limit_by = LimitBy::kIp;
  } else if (limit_by == "service") {
    c.limit_by = LimitBy::kService;
  } else if (limit_by == "header") {
    c.limit_by = LimitBy::kHeader;
  } else if (limit_by == "path") {
    c.limit_by = LimitBy::kPath;
  } else {
    throw sb::ConfigError(
        "config.limit_by: expected one of: consumer, credential, ip, service, header, path");
  }
  sb::Value header_name = conf["header_name"];
  if (header_name.is_string()) {
    c.header_name = header_name.string();
    if (!header_name_ok(c.header_name)) {
      throw sb::ConfigError("config.header_name: bad header name '" + c.header_name +
                            "', allowed characters are A-Z, a-z, 0-9, '_', and '-'");
    }
  } else if (c.limit_by == LimitBy::kHeader) {
    throw sb::ConfigError("config.header_name: required field missing");
  }
  sb::Value path = conf["path"];
  if (path.is_string()) {
    c.path = path.string();
    if (c.path.empty() || c.path[0] != '/')
      throw sb::ConfigError("config.path: should start with: /");
    if (c.path.find("//") != std::string::npos)
      throw sb::ConfigError("config.path: must not have empty segments");
  } else if (c.limit_by == LimitBy::kPath) {
    throw sb::ConfigError("config.path: required field missing");
  }

  std::string policy = get_string(conf, "policy", "local");
  if (policy == "local") {
    c.policy = Policy::kLocal;
  } else if (policy == "redis") {
    c.policy = Policy::kRedis;
    sb::Value redis = conf["redis"];
    if (!redis["host"].is_string())
      throw sb::ConfigError("config.redis.host: required field missing");
  } else {
    // `cluster` needs a database: Kong's DB-less schema only offers local and redis.
    throw sb::ConfigError("config.policy: expected one of: local, redis");
  }
  sb::Value fault_tolerant = conf["fault_tolerant"];
  c.fault_tolerant = fault_tolerant.is_bool() ? fault_tolerant.boolean() : true;
  sb::Value hide = conf["hide_client_headers"];
  c.hide_client_headers = hide.is_bool() && hide.boolean();
  sb::Value error_code = conf["error_code"];
  if (error_code.is_number()) {
    double code = error_code.number();
    if (!(code > 0)) throw sb::ConfigError("config.error_code: value must be greater than 0");
    c.error_code = static_cast<int32_t>(code);
  }
  sb::Value error_message = conf["error_message"];
  c.error_message = error_message.is_string() ? error_message.string() : std::string();
  sb::Value sync_rate = conf["sync_rate"];
  c.sync_rate = sync_rate.is_number() ? sync_rate.number() : -1;

  if (auto err = periods_order_error(c)) throw sb::ConfigError(*err);
  if (c.policy != Policy::kRedis && c.sync_rate != -1)
    throw sb::ConfigError("sync_rate can only be used with the redis policy");
  if (c.policy == Policy::kRedis && c.sync_rate != -1 && c.sync_rate < 0.02)
    throw sb::ConfigError("sync_rate must be greater than 0.02, or -1 to disable");
  if (c.policy == Policy::kRedis) {
    throw sb::ConfigError(
        "config.policy: redis policy not supported yet (use policy: local, counted per node)");
  }
  c.counters = &state.counters;
  return c;
}

void RateLimiting::init_worker(sb::WorkerCtx& worker) {
  if (worker.node().worker_id() == 0) schedule_sweep(worker);
}

sb::Result RateLimiting::access(sb::Ctx& ctx, const Config& cfg) {
  // Kong: current_timestamp = ngx.time() * 1000 (whole seconds).
  int64_t now_ms = ctx.now_ms();
  int64_t now_s = now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000;

  // Counters are per (plugin's route, plugin's service, identifier, window): a global or a
  // consumer-scoped config counts across routes (Kong's get_local_key).
  std::string& key = scratch().key;
  key.clear();
  auto route = ctx.var(SB_VAR_PLUGIN_ROUTE_ID);
  auto service = ctx.var(SB_VAR_PLUGIN_SERVICE_ID);
  key.append(route && !route->empty() ? *route : kEmptyUuid);
  key.push_back('\0');
  key.append(service && !service->empty() ? *service : kEmptyUuid);
  key.push_back('\0');
  key.append(identifier(ctx, cfg));

  CounterStore::Check check;
  check.mask = cfg.mask;
  for (int p = 0; p < kPeriods; ++p) {
    if (!(cfg.mask & (1u << p))) continue;
    check.limit[p] = cfg.limit[p];
    check.start[p] = window_start(static_cast<Period>(p), now_s);
    check.end[p] = window_end(static_cast<Period>(p), check.start[p]);
  }
  CounterStore::Usage usage = cfg.counters->hit(key, check, now_s);

  if (!cfg.hide_client_headers) {
    // Per window: the limit and what is left after this request (a blocked request does not
    // count); then the most constraining window (lowest remaining, ties to the longer one) as
    // RateLimit-*, with the seconds left in it (Kong's EXPIRATION lengths) as the reset.
    int best = -1;
    double best_remaining = 0;
    char buf[32];
    for (int p = 0; p < kPeriods; ++p) {
      if (!(cfg.mask & (1u << p))) continue;
      double remaining = cfg.limit[p] - static_cast<double>(usage.count[p]);
      if (!usage.blocked) remaining -= 1;
      remaining = std::max(0.0, remaining);
      if (best < 0 || remaining <= best_remaining) {
        best = p;
        best_remaining = remaining;
      }
      if (!set_header(ctx, kLimitHeaders[p], cfg.limit_text[p]) ||
          !set_header(ctx, kRemainingHeaders[p],
                      std::string_view(buf, format_number(remaining, buf, sizeof buf))))
        return sb::Result::Error;
    }
    int64_t reset = std::max<int64_t>(1, kExpiration[best] - (now_s - check.start[best]));
    char reset_buf[24];
    int reset_len =
        std::snprintf(reset_buf, sizeof reset_buf, "%lld", static_cast<long long>(reset));
    std::string_view reset_text(reset_buf, static_cast<size_t>(reset_len));
    if (!set_header(ctx, "RateLimit-Limit", cfg.limit_text[best]) ||
        !set_header(ctx, "RateLimit-Remaining",
                    std::string_view(buf, format_number(best_remaining, buf, sizeof buf))) ||
        !set_header(ctx, "RateLimit-Reset", reset_text))
      return sb::Result::Error;
    // 3.x: no Retry-After with hide_client_headers (2.8 sent it anyway).
    if (usage.blocked && !set_header(ctx, "Retry-After", reset_text)) return sb::Result::Error;
  }

  if (usage.blocked) return ctx.response().error(cfg.error_code, cfg.error_message);
  return sb::Result::Continue;
}

}  // namespace sbp::rate_limiting
