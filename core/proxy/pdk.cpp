// The host side of the plugin ABI: the sb_host_api table (Kong's PDK over a request's state)
// and the per-worker registry of plugins' async operations (timers, outbound HTTP calls).
#include "proxy/pdk.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "common/json.h"
#include "common/log.h"
#include "proxy/headers.h"
#include "proxy/http_client.h"
#include "proxy/session.h"
#include "proxy/transaction.h"
#include "proxy/worker.h"

using sb::config::Value;
using sb::http::iequals;
using sb::http::MessageHead;

namespace sb::proxy {

namespace {

constexpr uint32_t kRequestPhases = kPhaseRewrite | kPhaseAccess | kPhaseResponse |
                                    kPhaseHeaderFilter | kPhaseBodyFilter | kPhaseLog;
constexpr uint32_t kRoutedPhases =
    kPhaseAccess | kPhaseResponse | kPhaseHeaderFilter | kPhaseBodyFilter | kPhaseLog;
constexpr size_t kMaxRequestBody = 16 * 1024 * 1024;

std::string_view sv(sb_str s) {
  return s.ptr == nullptr ? std::string_view() : std::string_view(s.ptr, s.len);
}
sb_str out_str(std::string_view s) { return sb_str{s.data(), s.size()}; }

const Value* val(const sb_value* v) { return reinterpret_cast<const Value*>(v); }
const sb_value* to_sb(const Value* v) { return reinterpret_cast<const sb_value*>(v); }

// Validates the ctx, its thread and its phase.
sb_status check(const sb_ctx* ctx, uint32_t phases) {
  if (ctx == nullptr) return SB_E_INVALID_ARG;
  if (!ctx->worker->on_loop_thread()) return SB_E_WRONG_THREAD;
  if ((ctx->phase & phases) == 0) return SB_E_WRONG_PHASE;
  return SB_OK;
}
sb_status check_request(const sb_ctx* ctx, uint32_t phases) {
  if (ctx != nullptr && ctx->worker_scope) return SB_E_WRONG_PHASE;
  return check(ctx, phases);
}

// Header names as Kong's get_header compares them: case-insensitive, '_' matches '-'.
bool header_name_matches(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x == '_') x = '-';
    if (y == '_') y = '-';
    if (x != y) return false;
  }
  return true;
}

// RFC 9110 tchar, as a table: header names are checked on every plugin header write.
constexpr auto kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = 33; c < 127; ++c) t[static_cast<size_t>(c)] = true;
  for (char c : std::string_view("\"(),/:;<=>?@[\\]{}")) t[static_cast<unsigned char>(c)] = false;
  return t;
}();

bool valid_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!kTokenChars[static_cast<unsigned char>(c)]) return false;
  return true;
}
bool valid_value(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 32 && c != '\t') || u == 127) return false;
  }
  return true;
}
// The host owns message framing and connection management.
bool framing_header(std::string_view name) {
  return iequals(name, "Content-Length") || is_hop_by_hop(name) || iequals(name, "Keep-Alive");
}

MessageHead* writable_head(sb_ctx* ctx, uint32_t map) {
  PluginRun& run = *ctx->run;
  if (map == SB_HDR_UPSTREAM_REQUEST) return &ctx->session->request_head();
  if (map == SB_HDR_RESPONSE) return run.response_head;
  return nullptr;
}

const MessageHead* readable_head(sb_ctx* ctx, uint32_t map) {
  PluginRun& run = *ctx->run;
  switch (map) {
    case SB_HDR_REQUEST:
    case SB_HDR_UPSTREAM_REQUEST:
      return &ctx->session->request_head();
    case SB_HDR_UPSTREAM_RESPONSE:
      return run.upstream_head;
    case SB_HDR_RESPONSE:
      return run.response_head;
    default:
      return nullptr;
  }
}

uint32_t map_write_phases(uint32_t map) {
  if (map == SB_HDR_UPSTREAM_REQUEST) return kPhaseRewrite | kPhaseAccess;
  if (map == SB_HDR_RESPONSE)
    return kPhaseRewrite | kPhaseAccess | kPhaseResponse | kPhaseHeaderFilter;
  return 0;
}
uint32_t map_read_phases(uint32_t map) {
  if (map == SB_HDR_UPSTREAM_RESPONSE)
    return kPhaseResponse | kPhaseHeaderFilter | kPhaseBodyFilter | kPhaseLog;
  if (map == SB_HDR_RESPONSE) return kRequestPhases;
  if (map <= SB_HDR_RESPONSE) return kRequestPhases;
  return 0;
}

// kong.response.set_header before the response exists: recorded, applied to the response head.
sb_status record_response_op(PluginRun& run, HeaderOp::Kind kind, std::string_view name,
                             std::string_view value) {
  std::string& text = run.response_ops_text;
  auto inside = [&](std::string_view v) {
    return !v.empty() && v.data() >= text.data() && v.data() < text.data() + text.size();
  };
  if (inside(name) || inside(value)) {
    // A view read back from the recorded ops (h_hdr_get) would dangle when the text grows.
    std::string n(name), v(value);
    return record_response_op(run, kind, n, v);
  }
  auto at = static_cast<uint32_t>(text.size());
  text.append(name).append(value);
  run.response_ops.push_back(HeaderOp{kind, at, static_cast<uint32_t>(name.size()),
                                      at + static_cast<uint32_t>(name.size()),
                                      static_cast<uint32_t>(value.size())});
  return SB_OK;
}

// --- [any thread] ---------------------------------------------------------------------------

void h_log_msg(sb_ctx* ctx, int32_t level, sb_str message) {
  sb::log::Level l = sb::log::Level::notice;
  switch (level) {
    case SB_LOG_DEBUG:
      l = sb::log::Level::debug;
      break;
    case SB_LOG_INFO:
      l = sb::log::Level::info;
      break;
    case SB_LOG_NOTICE:
      l = sb::log::Level::notice;
      break;
    case SB_LOG_WARN:
      l = sb::log::Level::warn;
      break;
    case SB_LOG_ERR:
      l = sb::log::Level::error;
      break;
    default:
      l = sb::log::Level::crit;
      break;
  }
  if (!sb::log::enabled(l)) return;
  std::string_view name =
      ctx != nullptr && ctx->plugin != nullptr ? ctx->plugin->name : std::string_view("plugin");
  sb::log::write(l, fmt::format("[{}] {}", name, sv(message)));
}

const char* h_status_str(sb_status st) {
  switch (st) {
    case SB_OK:
      return "ok";
    case SB_E_NOT_FOUND:
      return "not found";
    case SB_E_INVALID_ARG:
      return "invalid argument";
    case SB_E_WRONG_PHASE:
      return "not allowed in this phase";
    case SB_E_UNSUPPORTED:
      return "unsupported";
    case SB_E_TOO_LARGE:
      return "too large";
    case SB_E_STATE:
      return "invalid state";
    case SB_E_CANCELLED:
      return "cancelled";
    case SB_E_TIMEOUT:
      return "timeout";
    case SB_E_INTERNAL:
      return "internal error";
    case SB_E_WRONG_THREAD:
      return "wrong thread";
    case SB_E_UPSTREAM:
      return "upstream failure";
    default:
      return "unknown status";
  }
}

int32_t h_value_kind(const sb_value* v) {
  if (v == nullptr) return SB_VALUE_NULL;
  switch (val(v)->kind) {
    case Value::Kind::null:
      return SB_VALUE_NULL;
    case Value::Kind::boolean:
      return SB_VALUE_BOOL;
    case Value::Kind::integer:
      return SB_VALUE_INTEGER;
    case Value::Kind::number:
      return SB_VALUE_NUMBER;
    case Value::Kind::string:
      return SB_VALUE_STRING;
    case Value::Kind::array:
      return SB_VALUE_ARRAY;
    case Value::Kind::object:
      return SB_VALUE_OBJECT;
  }
  return SB_VALUE_NULL;
}
const sb_value* h_value_get(const sb_value* o, sb_str key) {
  if (o == nullptr || val(o)->kind != Value::Kind::object) return nullptr;
  return to_sb(val(o)->get(sv(key)));
}
size_t h_value_len(const sb_value* v) {
  if (v == nullptr) return 0;
  if (val(v)->kind == Value::Kind::array) return val(v)->items.size();
  if (val(v)->kind == Value::Kind::object) return val(v)->members.size();
  return 0;
}
const sb_value* h_value_at(const sb_value* v, size_t i) {
  if (v == nullptr) return nullptr;
  if (val(v)->kind == Value::Kind::array && i < val(v)->items.size())
    return to_sb(&val(v)->items[i]);
  if (val(v)->kind == Value::Kind::object && i < val(v)->members.size())
    return to_sb(&val(v)->members[i].second);
  return nullptr;
}
sb_str h_value_key_at(const sb_value* o, size_t i) {
  if (o == nullptr || val(o)->kind != Value::Kind::object || i >= val(o)->members.size()) return {};
  return out_str(val(o)->members[i].first);
}
sb_str h_value_str(const sb_value* v) {
  if (v == nullptr || val(v)->kind != Value::Kind::string) return {};
  return out_str(val(v)->s);
}
int64_t h_value_int(const sb_value* v) {
  if (v == nullptr) return 0;
  switch (val(v)->kind) {
    case Value::Kind::integer:
      return val(v)->i;
    case Value::Kind::number:
      return static_cast<int64_t>(val(v)->d);
    case Value::Kind::boolean:
      return val(v)->b ? 1 : 0;
    default:
      return 0;
  }
}
double h_value_num(const sb_value* v) {
  if (v == nullptr) return 0;
  if (val(v)->kind == Value::Kind::number) return val(v)->d;
  if (val(v)->kind == Value::Kind::integer) return static_cast<double>(val(v)->i);
  return 0;
}

// --- request facts -----------------------------------------------------------------------------

sb_status h_var_get(sb_ctx* ctx, uint32_t var, sb_str* out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = {};
  if (var == SB_VAR_NODE_ID || var == SB_VAR_HOSTNAME) {
    if (ctx == nullptr) return SB_E_INVALID_ARG;
    if (!ctx->worker->on_loop_thread()) return SB_E_WRONG_THREAD;
    *out = out_str(var == SB_VAR_NODE_ID ? node_identity().id : node_identity().hostname);
    return SB_OK;
  }
  uint32_t phases = kRequestPhases;
  if (var == SB_VAR_TLS_SNI) phases |= kPhaseCertificate;
  if (auto st = check_request(ctx, phases); st != SB_OK) return st;
  return ctx->session->plugin_var(*ctx, var, out);
}

sb_status h_var_set(sb_ctx* ctx, uint32_t var, sb_str value) {
  if (auto st = check_request(ctx, kPhaseRewrite | kPhaseAccess); st != SB_OK) return st;
  PluginRun& run = *ctx->run;
  Transaction& t = *ctx->txn;
  std::string_view v = sv(value);
  switch (var) {
    case SB_VAR_UPSTREAM_PATH:
      if (v.empty() || v.front() != '/' || v.find('?') != std::string_view::npos ||
          !valid_value(v) || v.find(' ') != std::string_view::npos)
        return SB_E_INVALID_ARG;
      t.match.upstream_path.assign(v);
      return SB_OK;
    case SB_VAR_UPSTREAM_QUERY:
      if (!valid_value(v) || v.find(' ') != std::string_view::npos || v.find('#') != v.npos)
        return SB_E_INVALID_ARG;
      run.query_override.clear();
      if (!v.empty()) {
        run.query_override.push_back('?');
        run.query_override.append(v.data(), v.size());
      }
      run.query_overridden = true;
      return SB_OK;
    case SB_VAR_UPSTREAM_METHOD:
      if (!valid_token(v)) return SB_E_INVALID_ARG;
      run.method_override.assign(v);
      for (char& c : run.method_override)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
      return SB_OK;
    default:
      return SB_E_INVALID_ARG;
  }
}

sb_status h_num_get(sb_ctx* ctx, uint32_t num, int64_t* out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = 0;
  if (ctx == nullptr) return SB_E_INVALID_ARG;
  if (!ctx->worker->on_loop_thread()) return SB_E_WRONG_THREAD;
  if (num == SB_NUM_NOW_MS) {
    *out = ctx->worker->epoch_ms();
    return SB_OK;
  }
  if (num == SB_NUM_WORKER_ID) {
    *out = ctx->worker->index();
    return SB_OK;
  }
  uint32_t phases = kRequestPhases;
  if (num == SB_NUM_CLIENT_PORT || num == SB_NUM_SERVER_PORT) phases |= kPhaseCertificate;
  if (auto st = check_request(ctx, phases); st != SB_OK) return st;
  return ctx->session->plugin_num(*ctx, num, out);
}

sb_status h_num_set(sb_ctx* ctx, uint32_t num, int64_t value) {
  if (num != SB_NUM_RESPONSE_STATUS) return SB_E_INVALID_ARG;
  if (auto st =
          check_request(ctx, kPhaseRewrite | kPhaseAccess | kPhaseResponse | kPhaseHeaderFilter);
      st != SB_OK)
    return st;
  if (value < 100 || value > 999) return SB_E_INVALID_ARG;
  PluginRun& run = *ctx->run;
  if (run.response_head != nullptr) {
    run.response_head->status = static_cast<int>(value);
    run.response_head->clear_reason();  // the upstream's phrase belonged to its status
  } else {
    run.status_override = static_cast<int>(value);
  }
  return SB_OK;
}

// --- headers -------------------------------------------------------------------------------------

sb_status h_hdr_get(sb_ctx* ctx, uint32_t map, sb_str name, size_t idx, sb_str* out,
                    size_t* count) {
  if (out != nullptr) *out = {};
  if (count != nullptr) *count = 0;
  if (auto st = check_request(ctx, map_read_phases(map)); st != SB_OK) return st;
  std::string_view n = sv(name);
  if (map == SB_HDR_RESPONSE && ctx->run->response_head == nullptr) {
    // Before the response exists: what plugins recorded so far.
    // The values left are those after the last set/remove of the name (no allocation).
    const PluginRun& run = *ctx->run;
    size_t first = 0;
    for (size_t i = 0; i < run.response_ops.size(); ++i) {
      const HeaderOp& op = run.response_ops[i];
      if (op.kind != HeaderOp::add && header_name_matches(run.op_name(op), n)) first = i;
    }
    size_t found = 0;
    for (size_t i = first; i < run.response_ops.size(); ++i) {
      const HeaderOp& op = run.response_ops[i];
      if (op.kind == HeaderOp::remove || !header_name_matches(run.op_name(op), n)) continue;
      if (found++ == idx && out != nullptr) *out = out_str(run.op_value(op));
    }
    if (count != nullptr) *count = found;
    return idx < found ? SB_OK : SB_E_NOT_FOUND;
  }
  const MessageHead* head = readable_head(ctx, map);
  if (head == nullptr) return SB_E_NOT_FOUND;
  size_t seen = 0;
  std::string_view found;
  for (size_t i = 0; i < head->field_count(); ++i) {
    if (!header_name_matches(head->name(i), n)) continue;
    if (seen == idx) found = head->value(i);
    ++seen;
  }
  if (count != nullptr) *count = seen;
  if (idx >= seen) return SB_E_NOT_FOUND;
  if (out != nullptr) *out = out_str(found);
  return SB_OK;
}

sb_status h_hdr_count(sb_ctx* ctx, uint32_t map, size_t* out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = 0;
  if (auto st = check_request(ctx, map_read_phases(map)); st != SB_OK) return st;
  const MessageHead* head = readable_head(ctx, map);
  if (head != nullptr) *out = head->field_count();
  return SB_OK;
}

sb_status h_hdr_at(sb_ctx* ctx, uint32_t map, size_t i, sb_header* out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = {};
  if (auto st = check_request(ctx, map_read_phases(map)); st != SB_OK) return st;
  const MessageHead* head = readable_head(ctx, map);
  if (head == nullptr || i >= head->field_count()) return SB_E_NOT_FOUND;
  out->name = out_str(head->name(i));
  out->value = out_str(head->value(i));
  return SB_OK;
}

sb_status hdr_write(sb_ctx* ctx, uint32_t map, sb_str name, sb_str value, HeaderOp::Kind kind) {
  if (auto st = check_request(ctx, map_write_phases(map)); st != SB_OK) return st;
  std::string_view n = sv(name), v = sv(value);
  if (!valid_token(n) || !valid_value(v) || framing_header(n)) return SB_E_INVALID_ARG;
  PluginRun& run = *ctx->run;
  if (map == SB_HDR_UPSTREAM_REQUEST && iequals(n, "Host")) {
    if (kind == HeaderOp::remove) return SB_E_INVALID_ARG;
    run.host_override.assign(v);
  }
  MessageHead* head = writable_head(ctx, map);
  if (head == nullptr) {
    if (map == SB_HDR_RESPONSE) return record_response_op(run, kind, n, v);
    return SB_E_STATE;
  }
  switch (kind) {
    case HeaderOp::set:
      head->set_field(n, v);
      break;
    case HeaderOp::add:
      head->add_field(n, v);
      break;
    case HeaderOp::remove:
      head->remove_fields(n);
      break;
  }
  return SB_OK;
}
sb_status h_hdr_set(sb_ctx* ctx, uint32_t map, sb_str name, sb_str value) {
  return hdr_write(ctx, map, name, value, HeaderOp::set);
}
sb_status h_hdr_add(sb_ctx* ctx, uint32_t map, sb_str name, sb_str value) {
  return hdr_write(ctx, map, name, value, HeaderOp::add);
}
sb_status h_hdr_remove(sb_ctx* ctx, uint32_t map, sb_str name) {
  return hdr_write(ctx, map, name, sb_str{}, HeaderOp::remove);
}

// --- query and bodies ----------------------------------------------------------------------------

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
// Decodes one query component (percent escapes, '+' as space) into `out`.
void url_decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
}

sb_status h_query_get(sb_ctx* ctx, sb_str name, size_t idx, sb_str* out, size_t* count) {
  if (out != nullptr) *out = {};
  if (count != nullptr) *count = 0;
  if (auto st = check_request(ctx, kRequestPhases); st != SB_OK) return st;
  std::string_view query = ctx->txn->query;
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  std::string key;
  std::string& value = ctx->run->scratch_strings.emplace_back();
  size_t seen = 0;
  bool found = false;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    url_decode(pair.substr(0, eq), key);
    if (key != sv(name)) continue;
    if (seen == idx) {
      if (eq == std::string_view::npos) {
        value.clear();
      } else {
        url_decode(pair.substr(eq + 1), value);
      }
      found = true;
    }
    ++seen;
  }
  if (count != nullptr) *count = seen;
  if (!found) return SB_E_NOT_FOUND;
  if (out != nullptr) *out = out_str(value);
  return SB_OK;
}

sb_status h_request_body_get(sb_ctx* ctx, sb_str* out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = {};
  if (auto st = check_request(ctx, kPhaseRewrite | kPhaseAccess | kPhaseResponse); st != SB_OK)
    return st;
  PluginRun& run = *ctx->run;
  if (!run.body_buffered) return SB_E_UNSUPPORTED;
  if (run.request_body_too_large) return SB_E_TOO_LARGE;
  *out = out_str(run.request_body);
  return SB_OK;
}

sb_status h_request_body_set(sb_ctx* ctx, sb_str body) {
  if (auto st = check_request(ctx, kPhaseRewrite | kPhaseAccess); st != SB_OK) return st;
  PluginRun& run = *ctx->run;
  if (!run.body_buffered) return SB_E_UNSUPPORTED;
  if (body.len > kMaxRequestBody) return SB_E_TOO_LARGE;
  run.request_body.assign(sv(body));
  run.request_body_replaced = true;
  return SB_OK;
}

sb_status h_route_capture(sb_ctx* ctx, sb_str name, sb_str* out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = {};
  if (auto st = check_request(ctx, kRoutedPhases); st != SB_OK) return st;
  std::string_view n = sv(name);
  for (const auto& c : ctx->txn->match.captures) {
    // Every group by number (named ones too, as ngx.re.match reports them), named ones by name.
    bool hit = n == std::to_string(c.index) || (!c.name.empty() && n == c.name);
    if (hit) {
      *out = out_str(c.value);
      return SB_OK;
    }
  }
  return SB_E_NOT_FOUND;
}

// --- responses -----------------------------------------------------------------------------------

sb_status record_exit(sb_ctx* ctx, int32_t status, const sb_header* headers, size_t n,
                      std::string_view body, bool is_error) {
  constexpr uint32_t phases = kPhaseRewrite | kPhaseAccess | kPhaseResponse | kPhaseHeaderFilter;
  if (auto st = check_request(ctx, phases); st != SB_OK) return st;
  if (status < 100 || status > 599 || (is_error && status < 400)) return SB_E_INVALID_ARG;
  if (n > 0 && headers == nullptr) return SB_E_INVALID_ARG;
  PluginRun& run = *ctx->run;
  if (run.exit_recorded) return SB_E_STATE;
  if (ctx->phase == kPhaseHeaderFilter && !body.empty()) return SB_E_INVALID_ARG;
  for (size_t i = 0; i < n; ++i) {
    if (!valid_token(sv(headers[i].name)) || !valid_value(sv(headers[i].value)) ||
        framing_header(sv(headers[i].name)))
      return SB_E_INVALID_ARG;
  }
  run.exit_recorded = true;
  run.exit_by = ctx->instance;
  run.exit_is_error = is_error;
  run.exit_status = status;
  run.exit_body.assign(body);
  run.exit_headers.clear();
  for (size_t i = 0; i < n; ++i)
    run.exit_headers.emplace_back(std::string(sv(headers[i].name)),
                                  std::string(sv(headers[i].value)));
  return SB_OK;
}
sb_status h_respond(sb_ctx* ctx, int32_t status, const sb_header* headers, size_t n, sb_str body) {
  return record_exit(ctx, status, headers, n, sv(body), false);
}
sb_status h_respond_error(sb_ctx* ctx, int32_t status, sb_str message, const sb_header* headers,
                          size_t n) {
  return record_exit(ctx, status, headers, n, sv(message), true);
}

sb_status h_response_body_mode(sb_ctx* ctx, uint32_t mode) {
  if (auto st = check_request(ctx, kPhaseHeaderFilter); st != SB_OK) return st;
  if (mode > SB_BODY_RESIZE) return SB_E_INVALID_ARG;
  if (mode > ctx->run->body_mode) ctx->run->body_mode = mode;  // buffer wins over resize
  return SB_OK;
}

sb_status h_body_set(sb_ctx* ctx, sb_str data) {
  if (auto st = check_request(ctx, kPhaseBodyFilter | kPhaseResponse); st != SB_OK) return st;
  PluginRun& run = *ctx->run;
  if (ctx->phase == kPhaseResponse) {
    run.response_buffer.assign(sv(data));
    return SB_OK;
  }
  if (run.body_mode == SB_BODY_STREAM && data.len != run.chunk_len) return SB_E_STATE;
  run.chunk_out.assign(sv(data));
  run.chunk_replaced = true;
  return SB_OK;
}

sb_status h_response_body_get(sb_ctx* ctx, sb_str* out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = {};
  if (auto st = check_request(ctx, kPhaseResponse); st != SB_OK) return st;
  *out = out_str(ctx->run->response_buffer);
  return SB_OK;
}

// --- service, client, entities
// ---------------------------------------------------------------------

sb_status h_service_set_target(sb_ctx* ctx, sb_str host, uint16_t port) {
  if (auto st = check_request(ctx, kPhaseAccess); st != SB_OK) return st;
  std::string_view h = sv(host);
  if (h.empty() || port == 0 || !valid_value(h) || h.find_first_of(" /?#") != h.npos)
    return SB_E_INVALID_ARG;
  ctx->run->target_host.assign(h);
  ctx->run->target_port = port;
  ctx->run->upstream_override = -1;
  return SB_OK;
}

sb_status h_service_set_upstream(sb_ctx* ctx, sb_str name) {
  if (auto st = check_request(ctx, kPhaseAccess); st != SB_OK) return st;
  const Snapshot& snap = *ctx->txn->snapshot;
  auto it = snap.upstream_by_name.find(std::string(sv(name)));
  if (it == snap.upstream_by_name.end()) return SB_E_NOT_FOUND;
  ctx->run->upstream_override = it->second;
  ctx->run->target_host.clear();
  return SB_OK;
}

sb_status h_client_authenticate(sb_ctx* ctx, sb_str consumer_id, sb_str credential_entity,
                                sb_str credential_id) {
  if (auto st = check_request(ctx, kPhaseAccess); st != SB_OK) return st;
  if (consumer_id.len == 0 && credential_id.len == 0) return SB_E_INVALID_ARG;
  const Snapshot& snap = *ctx->txn->snapshot;
  int consumer = -1;
  if (consumer_id.len > 0) {
    consumer = snap.entities.consumer_index(sv(consumer_id));
    if (consumer < 0) return SB_E_NOT_FOUND;
  }
  const Value* credential = nullptr;
  if (credential_id.len > 0) {
    credential = snap.entities.find(sv(credential_entity), "id", sv(credential_id));
    if (credential == nullptr) return SB_E_NOT_FOUND;
  }
  ctx->run->consumer = consumer;
  ctx->run->credential = credential;
  return SB_OK;
}

sb_status h_client_get_consumer(sb_ctx* ctx, const sb_value** out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = nullptr;
  if (auto st = check_request(ctx, kRoutedPhases); st != SB_OK) return st;
  if (ctx->run->consumer < 0) return SB_E_NOT_FOUND;
  *out = to_sb(ctx->txn->snapshot->entities.consumer_row(ctx->run->consumer));
  return SB_OK;
}

sb_status h_client_get_credential(sb_ctx* ctx, const sb_value** out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = nullptr;
  if (auto st = check_request(ctx, kRoutedPhases); st != SB_OK) return st;
  if (ctx->run->credential == nullptr) return SB_E_NOT_FOUND;
  *out = to_sb(ctx->run->credential);
  return SB_OK;
}

sb_status h_entity_find(sb_ctx* ctx, sb_str entity, sb_str field, sb_str value,
                        const sb_value** out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = nullptr;
  if (auto st = check(ctx, kRequestPhases | kPhaseInitWorker); st != SB_OK) return st;
  const Snapshot* snap = nullptr;
  if (ctx->worker_scope) {
    snap = ctx->worker->snapshot().get();
  } else {
    snap = ctx->txn->snapshot.get();
  }
  if (snap == nullptr) return SB_E_NOT_FOUND;
  const Value* row = snap->entities.find(sv(entity), sv(field), sv(value));
  if (row == nullptr) return SB_E_NOT_FOUND;
  *out = to_sb(row);
  return SB_OK;
}

// --- ctx data ----------------------------------------------------------------------------------

sb_status h_shared_set(sb_ctx* ctx, sb_str key, sb_str value) {
  if (auto st = check_request(ctx, kRequestPhases); st != SB_OK) return st;
  for (auto& [k, v] : ctx->run->shared) {
    if (k == sv(key)) {
      v.assign(sv(value));
      return SB_OK;
    }
  }
  ctx->run->shared.emplace_back(std::string(sv(key)), std::string(sv(value)));
  return SB_OK;
}

sb_status h_shared_get(sb_ctx* ctx, sb_str key, sb_str* out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = {};
  if (auto st = check_request(ctx, kRequestPhases); st != SB_OK) return st;
  for (const auto& [k, v] : ctx->run->shared) {
    if (k == sv(key)) {
      *out = out_str(v);
      return SB_OK;
    }
  }
  return SB_E_NOT_FOUND;
}

sb_status h_data_set(sb_ctx* ctx, void* data, sb_dtor_fn dtor) {
  if (auto st = check_request(ctx, kRequestPhases); st != SB_OK) return st;
  PluginRun& run = *ctx->run;
  for (auto& d : run.data) {
    if (d.instance == ctx->instance) {
      if (d.dtor != nullptr && d.data != nullptr && d.data != data) d.dtor(d.data);
      d.data = data;
      d.dtor = dtor;
      return SB_OK;
    }
  }
  run.data.push_back(PluginRun::Data{ctx->instance, data, dtor});
  return SB_OK;
}

void* h_data_get(sb_ctx* ctx) {
  if (check_request(ctx, kRequestPhases) != SB_OK) return nullptr;
  for (const auto& d : ctx->run->data)
    if (d.instance == ctx->instance) return d.data;
  return nullptr;
}

sb_status h_ip_is_trusted(sb_ctx* ctx, sb_str ip, int32_t* out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = 0;
  if (ctx == nullptr) return SB_E_INVALID_ARG;
  std::string text(sv(ip));
  sockaddr_storage ss{};
  if (inet_pton(AF_INET, text.c_str(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
    ss.ss_family = AF_INET;
  } else if (inet_pton(AF_INET6, text.c_str(), &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) ==
             1) {
    ss.ss_family = AF_INET6;
  } else {
    return SB_E_INVALID_ARG;
  }
  *out =
      cidr_contains(ctx->worker->settings().trusted_ips, reinterpret_cast<sockaddr*>(&ss)) ? 1 : 0;
  return SB_OK;
}

sb_status h_log_serialize(sb_ctx* ctx, sb_str* out) {
  if (out == nullptr) return SB_E_INVALID_ARG;
  *out = {};
  if (auto st = check_request(ctx, kPhaseLog); st != SB_OK) return st;
  ctx->session->plugin_serialize(*ctx, ctx->run->serialized);
  *out = out_str(ctx->run->serialized);
  return SB_OK;
}

// --- async -----------------------------------------------------------------------------------

constexpr uint32_t kAsyncPhases = kPhaseRewrite | kPhaseAccess | kPhaseResponse;

sb_status h_timer_start(sb_ctx* ctx, uint64_t delay_ms, sb_timer_cb cb, void* user, sb_op* op) {
  if (op != nullptr) *op = 0;
  if (cb == nullptr) return SB_E_INVALID_ARG;
  if (auto st = check(
          ctx, ctx != nullptr && ctx->worker_scope ? ctx->phase | kPhaseInitWorker : kAsyncPhases);
      st != SB_OK)
    return st;
  sb_op id = ctx->worker->plugin_ops().start_timer(ctx, delay_ms, cb, user);
  if (op != nullptr) *op = id;
  return SB_OK;
}

sb_status h_http_call(sb_ctx* ctx, const sb_http_request* request, sb_http_cb cb, void* user,
                      sb_op* op) {
  if (op != nullptr) *op = 0;
  if (cb == nullptr || request == nullptr) return SB_E_INVALID_ARG;
  if (auto st = check(
          ctx, ctx != nullptr && ctx->worker_scope ? ctx->phase | kPhaseInitWorker : kAsyncPhases);
      st != SB_OK)
    return st;
  sb_http_request r{};
  size_t size = request->struct_size;
  if (size < offsetof(sb_http_request, body) + sizeof(r.body)) return SB_E_INVALID_ARG;
  if (size > sizeof(r)) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(request);
    for (size_t i = sizeof(r); i < size; ++i)
      if (bytes[i] != 0) return SB_E_UNSUPPORTED;
  }
  std::memcpy(&r, request, std::min(size, sizeof(r)));
  if (r.reserved != 0 || (r.flags & ~SB_HTTP_TLS_VERIFY) != 0) return SB_E_UNSUPPORTED;
  if (r.n_headers > 0 && r.headers == nullptr) return SB_E_INVALID_ARG;
  HttpCallRequest call;
  call.method = r.method.len > 0 ? std::string(sv(r.method)) : "GET";
  if (!valid_token(call.method)) return SB_E_INVALID_ARG;
  call.url.assign(sv(r.url));
  for (size_t i = 0; i < r.n_headers; ++i) {
    if (!valid_token(sv(r.headers[i].name)) || !valid_value(sv(r.headers[i].value)))
      return SB_E_INVALID_ARG;
    call.headers.emplace_back(std::string(sv(r.headers[i].name)),
                              std::string(sv(r.headers[i].value)));
  }
  call.body.assign(sv(r.body));
  call.timeout_ms = r.timeout_ms == 0 ? 10000 : r.timeout_ms;
  call.tls_verify = (r.flags & SB_HTTP_TLS_VERIFY) != 0;
  sb_op id = ctx->worker->plugin_ops().start_http(ctx, std::move(call), cb, user);
  if (op != nullptr) *op = id;
  return SB_OK;
}

sb_status h_cancel(sb_ctx* ctx, sb_op op) {
  if (ctx == nullptr) return SB_E_INVALID_ARG;
  if (!ctx->worker->on_loop_thread()) return SB_E_WRONG_THREAD;
  return ctx->worker->plugin_ops().cancel(ctx, op) ? SB_OK : SB_E_NOT_FOUND;
}

sb_status h_resume(sb_ctx* ctx, sb_result result) {
  if (ctx == nullptr || ctx->worker_scope) return SB_E_INVALID_ARG;
  if (!ctx->worker->on_loop_thread()) return SB_E_WRONG_THREAD;
  PluginRun& run = *ctx->run;
  if (!run.pending || run.resumed) return SB_E_STATE;
  if (result != SB_CONTINUE && result != SB_EXITED && result != SB_ERROR) return SB_E_INVALID_ARG;
  run.resumed = true;
  run.resume_result = result;
  return SB_OK;
}

const sb_host_api kApi = {
    sizeof(sb_host_api),
    SB_ABI_MINOR,
    h_log_msg,
    h_status_str,
    h_value_kind,
    h_value_get,
    h_value_len,
    h_value_at,
    h_value_key_at,
    h_value_str,
    h_value_int,
    h_value_num,
    h_var_get,
    h_var_set,
    h_num_get,
    h_num_set,
    h_hdr_get,
    h_hdr_count,
    h_hdr_at,
    h_hdr_set,
    h_hdr_add,
    h_hdr_remove,
    h_query_get,
    h_request_body_get,
    h_request_body_set,
    h_route_capture,
    h_respond,
    h_respond_error,
    h_response_body_mode,
    h_body_set,
    h_response_body_get,
    h_service_set_target,
    h_service_set_upstream,
    h_client_authenticate,
    h_client_get_consumer,
    h_client_get_credential,
    h_entity_find,
    h_shared_set,
    h_shared_get,
    h_data_set,
    h_data_get,
    h_ip_is_trusted,
    h_log_serialize,
    h_timer_start,
    h_http_call,
    h_cancel,
    h_resume,
};

const sb_host_info kHostInfo = {
    sizeof(sb_host_info), SB_ABI_MAJOR, SB_ABI_MINOR, 0, "0.2.0", &kApi};

}  // namespace

const sb_host_info* host_info() { return &kHostInfo; }

NodeIdentity& node_identity() {
  static NodeIdentity identity;
  return identity;
}

// ---------------------------------------------------------------------------------------------
// Async operations

struct PluginOps::Op {
  PluginOps* owner = nullptr;
  sb_op id = 0;
  sb_ctx* ctx = nullptr;
  sb_timer_cb timer_cb = nullptr;
  sb_http_cb http_cb = nullptr;
  void* user = nullptr;
  sb::net::UvHandle<uv_timer_t> timer;
  uint64_t http_id = 0;
};

PluginOps::PluginOps(Worker& worker) : worker_(worker) {}

PluginOps::~PluginOps() { cancel_all(); }

HttpClient& PluginOps::http() {
  if (!http_) http_ = std::make_unique<HttpClient>(worker_.loop(), worker_.resolver());
  return *http_;
}

void PluginOps::track(sb_ctx* ctx, sb_op id) {
  if (!ctx->worker_scope) ctx->run->ops.push_back(id);
}

void PluginOps::untrack(sb_ctx* ctx, sb_op id) {
  if (ctx == nullptr || ctx->worker_scope) return;
  auto& ops = ctx->run->ops;
  std::erase(ops, id);
}

sb_op PluginOps::start_timer(sb_ctx* ctx, uint64_t delay_ms, sb_timer_cb cb, void* user) {
  auto op = std::make_unique<Op>();
  op->id = ++next_id_;
  op->ctx = ctx;
  op->timer_cb = cb;
  op->user = user;
  op->owner = this;
  op->timer = sb::net::make_uv_handle<uv_timer_t>();
  uv_timer_init(worker_.loop(), op->timer.get());
  op->timer->data = op.get();
  sb_op id = op->id;
  uv_timer_start(
      op->timer.get(),
      [](uv_timer_t* h) {
        auto* o = static_cast<Op*>(h->data);
        o->owner->complete_timer(o->id);
      },
      delay_ms, 0);
  if (ctx->worker_scope) uv_unref(reinterpret_cast<uv_handle_t*>(op->timer.get()));
  track(ctx, id);
  ops_.emplace(id, std::move(op));
  return id;
}

sb_op PluginOps::start_http(sb_ctx* ctx, HttpCallRequest request, sb_http_cb cb, void* user) {
  auto op = std::make_unique<Op>();
  op->id = ++next_id_;
  op->ctx = ctx;
  op->http_cb = cb;
  op->user = user;
  sb_op id = op->id;
  track(ctx, id);
  ops_.emplace(id, std::move(op));
  // The client never calls back inside start(), so the op is registered before it can end.
  uint64_t http_id =
      http().start(std::move(request),
                   [this, id](HttpCallError e, HttpCallResponse* r) { complete_http(id, e, r); });
  auto it = ops_.find(id);
  if (it != ops_.end()) it->second->http_id = http_id;
  return id;
}

void PluginOps::complete_timer(sb_op id) {
  auto it = ops_.find(id);
  if (it == ops_.end()) return;
  std::unique_ptr<Op> op = std::move(it->second);
  ops_.erase(it);
  untrack(op->ctx, id);
  sb_ctx* ctx = op->ctx;
  op->timer_cb(ctx, op->user, SB_OK);
  after_completion(ctx);
}

void PluginOps::complete_http(sb_op id, HttpCallError error, HttpCallResponse* response) {
  auto it = ops_.find(id);
  if (it == ops_.end()) return;  // cancelled: the callback already ran
  std::unique_ptr<Op> op = std::move(it->second);
  ops_.erase(it);
  untrack(op->ctx, id);
  sb_ctx* ctx = op->ctx;
  if (error != HttpCallError::ok || response == nullptr) {
    sb_status st = error == HttpCallError::timeout     ? SB_E_TIMEOUT
                   : error == HttpCallError::cancelled ? SB_E_CANCELLED
                   : error == HttpCallError::too_large ? SB_E_TOO_LARGE
                                                       : SB_E_UPSTREAM;
    op->http_cb(ctx, op->user, st, nullptr);
  } else {
    std::vector<sb_header> headers;
    headers.reserve(response->headers.size());
    for (const auto& [n, v] : response->headers) headers.push_back({out_str(n), out_str(v)});
    sb_http_response r{sizeof(sb_http_response), response->status, headers.data(), headers.size(),
                       out_str(response->body)};
    op->http_cb(ctx, op->user, SB_OK, &r);
  }
  after_completion(ctx);
}

void PluginOps::after_completion(sb_ctx* ctx) {
  if (ctx == nullptr || ctx->worker_scope || ctx->run == nullptr) return;
  if (ctx->run->resumed) ctx->session->plugins_resume();
}

// Ends one op without its result: the callback runs now with `ctx_for_cb` and SB_E_CANCELLED.
void PluginOps::finish_cancelled(std::unique_ptr<Op> op, sb_ctx* ctx_for_cb) {
  if (op->http_id != 0 && http_) {
    uint64_t hid = op->http_id;
    op->http_id = 0;
    http_->cancel(hid);  // its callback finds no op any more
  }
  if (op->timer_cb != nullptr) {
    op->timer_cb(ctx_for_cb, op->user, SB_E_CANCELLED);
  } else {
    op->http_cb(ctx_for_cb, op->user, SB_E_CANCELLED, nullptr);
  }
}

bool PluginOps::cancel(sb_ctx* ctx, sb_op id) {
  auto it = ops_.find(id);
  if (it == ops_.end() || it->second->ctx != ctx) return false;
  std::unique_ptr<Op> op = std::move(it->second);
  ops_.erase(it);
  untrack(ctx, id);
  finish_cancelled(std::move(op), ctx);
  return true;
}

void PluginOps::cancel_request(PluginRun& run) {
  while (!run.ops.empty()) {
    sb_op id = run.ops.back();
    run.ops.pop_back();
    auto it = ops_.find(id);
    if (it == ops_.end()) continue;
    std::unique_ptr<Op> op = std::move(it->second);
    ops_.erase(it);
    finish_cancelled(std::move(op), nullptr);  // the request is gone
  }
}

void PluginOps::cancel_all() {
  while (!ops_.empty()) {
    auto it = ops_.begin();
    std::unique_ptr<Op> op = std::move(it->second);
    ops_.erase(it);
    if (op->ctx != nullptr && !op->ctx->worker_scope) std::erase(op->ctx->run->ops, op->id);
    finish_cancelled(std::move(op), nullptr);
  }
  http_.reset();
}

sb_ctx* PluginOps::worker_ctx(const sb::plugins::LoadedPlugin* plugin) {
  for (auto& c : worker_ctxs_)
    if (c->plugin == plugin) return c.get();
  auto c = std::make_unique<sb_ctx>();
  c->worker_scope = true;
  c->worker = &worker_;
  c->plugin = plugin;
  worker_ctxs_.push_back(std::move(c));
  return worker_ctxs_.back().get();
}

void PluginOps::init_worker(const sb::plugins::Registry& registry) {
  for (const auto& p : registry.plugins()) {
    if (p->hooks.on_init_worker == nullptr) continue;
    sb_ctx* ctx = worker_ctx(p.get());
    ctx->phase = kPhaseInitWorker;
    sb_status st = p->hooks.on_init_worker(p->state, ctx);
    if (st != SB_OK) {
      sb::log::error("[{}] init_worker failed on worker {}: {}", p->name, worker_.index(),
                     h_status_str(st));
    }
    // Timers and calls stay allowed from the worker ctx's completions.
  }
}

// ---------------------------------------------------------------------------------------------

void PluginRun::clear() {
  for (auto it = data.rbegin(); it != data.rend(); ++it) {
    if (it->dtor != nullptr && it->data != nullptr) it->dtor(it->data);
  }
  data.clear();
  ctx = sb_ctx{};
  compiled = nullptr;
  chain = nullptr;
  collected.clear();
  stage = Stage::idle;
  next = 0;
  pending = resumed = false;
  resume_result = SB_CONTINUE;
  waiting_body = body_buffered = in_hook = access_ran = log_ran = false;
  exit_recorded = exit_is_error = false;
  exit_by = nullptr;
  pending_instance = nullptr;
  chunk_hold.clear();
  buffering_response = run_response_phase = false;
  exit_status = 0;
  status_override = 0;
  exit_body.clear();
  exit_headers.clear();
  response_source = "service";
  consumer = -1;
  credential = nullptr;
  client_ip.clear();
  forwarded_ip.clear();
  shared.clear();
  response_ops.clear();
  response_ops_text.clear();
  request_body.clear();
  request_body_too_large = request_body_replaced = false;
  query_override.clear();
  query_overridden = false;
  method_override.clear();
  host_override.clear();
  target_host.clear();
  target_port = 0;
  upstream_override = -1;
  body_mode = SB_BODY_STREAM;
  filters_response = false;
  response_buffer.clear();
  chunk_out.clear();
  chunk_replaced = false;
  chunk_len = 0;
  response_head = nullptr;
  upstream_head = nullptr;
  if (local_head) local_head->clear();
  serialized.clear();
  scratch_strings.clear();
  response_bytes = 0;
  upstream_status = 0;
  ops.clear();
}

}  // namespace sb::proxy
