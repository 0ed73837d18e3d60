// Running plugins inside a client session: Kong's request phases (rewrite with global configs,
// access with per-request precedence), exits and errors, async pending/resume, the response
// phases (response, header_filter, body_filter) and log. See kong-compat.md §4.
#include <fmt/format.h>

#include <chrono>

#include "common/json.h"
#include "common/log.h"
#include "proxy/headers.h"
#include "proxy/pdk.h"
#include "proxy/session.h"
#include "proxy/transaction.h"
#include "proxy/worker.h"

namespace sb::proxy {

using sb::http::iequals;
using sb::http::MessageHead;
using sb::plugins::Instance;

namespace {

constexpr size_t kMaxBufferedBody = 16 * 1024 * 1024;
constexpr uint64_t kPendingTimeoutMs = 60000;

const char* phase_name(uint32_t phase) {
  switch (phase) {
    case kPhaseRewrite:
      return "rewrite";
    case kPhaseAccess:
      return "access";
    case kPhaseResponse:
      return "response";
    case kPhaseHeaderFilter:
      return "header_filter";
    case kPhaseBodyFilter:
      return "body_filter";
    case kPhaseLog:
      return "log";
    default:
      return "?";
  }
}

sb_str out_str(std::string_view s) { return sb_str{s.data(), s.size()}; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Setup

PluginRun& ClientSession::plugin_run() {
  Transaction& t = *txn_;
  if (!t.plugins) t.plugins = std::make_unique<PluginRun>();
  if (!t.plugins_active) {
    t.plugins_active = true;
    PluginRun& run = *t.plugins;
    run.ctx.worker = worker_;
    run.ctx.session = this;
    run.ctx.txn = &t;
    run.ctx.run = &run;
    run.compiled = t.snapshot && t.snapshot->plugins ? t.snapshot->plugins.get() : nullptr;
  }
  return *t.plugins;
}

bool ClientSession::global_hooks(uint32_t hook) const {
  const Transaction& t = *txn_;
  return t.snapshot && t.snapshot->plugins && t.snapshot->plugins->global().has(hook);
}

void ClientSession::plugins_setup() {
  Transaction& t = *txn_;
  const Snapshot& snap = *t.snapshot;
  if (!snap.plugins || !snap.plugins->any()) return;
  int route = static_cast<int>(t.match.route - snap.config.routes.data());
  const auto& chain = snap.plugins->for_route(route);
  if (chain.empty()) return;
  PluginRun& run = plugin_run();
  run.chain = &chain;
  if ((chain.flags & SB_CFG_READS_REQUEST_BODY) && t.body_expected) {
    run.body_buffered = true;
    run.waiting_body = !t.request_complete;
  } else if (chain.flags & SB_CFG_READS_REQUEST_BODY) {
    run.body_buffered = true;  // no body: an empty one
  }
}

bool ClientSession::plugins_take_body(const char* data, size_t len) {
  Transaction& t = *txn_;
  if (!t.plugins_active || !t.plugins->body_buffered) return false;
  PluginRun& run = *t.plugins;
  if (run.request_body.size() + len > kMaxBufferedBody) {
    run.request_body_too_large = true;
    t.local = true;
    respond_error(413, {}, ErrorSource::nginx);
    return true;
  }
  run.request_body.append(data, len);
  return true;
}

void ClientSession::plugins_body_complete() {
  Transaction& t = *txn_;
  if (!t.plugins_active || !t.plugins->waiting_body) return;
  t.plugins->waiting_body = false;
  t.connect_pending = true;  // process() starts the phases once this read is parsed
}

// ---------------------------------------------------------------------------------------------
// Request phases

sb_result ClientSession::plugins_call(PluginRun& run, const Instance* inst, uint32_t phase) {
  run.ctx.phase = phase;
  run.ctx.instance = inst;
  run.ctx.plugin = inst->plugin;
  run.in_hook = true;
  const auto& h = inst->plugin->hooks;
  sb_result r = SB_ERROR;
  switch (phase) {
    case kPhaseRewrite:
      r = h.on_rewrite(&run.ctx, inst->cfg);
      break;
    case kPhaseAccess:
      r = h.on_access(&run.ctx, inst->cfg);
      break;
    case kPhaseResponse:
      r = h.on_response(&run.ctx, inst->cfg);
      break;
    case kPhaseHeaderFilter:
      r = h.on_header_filter(&run.ctx, inst->cfg);
      break;
    case kPhaseLog:
      h.on_log(&run.ctx, inst->cfg);
      r = SB_CONTINUE;
      break;
    default:
      break;
  }
  run.in_hook = false;
  if (r != SB_PENDING) run.ctx.phase = 0;  // a pending phase stays current for completions
  run.scratch_strings.clear();             // views handed out die with the hook
  return r;
}

// Applies a request-phase result. Returns false when the phases must stop here (pending).
bool ClientSession::plugins_result(PluginRun& run, const Instance* inst, uint32_t phase,
                                   sb_result r) {
  auto fail = [&](std::string_view why) {
    sb::log::error("[{}] {} phase: {}; answering 500", inst->plugin->name, phase_name(phase), why);
    run.exit_recorded = true;
    run.exit_is_error = true;
    run.exit_status = 500;
    run.exit_body.clear();  // Kong's "An unexpected error occurred"
    run.exit_headers.clear();
  };
  switch (r) {
    case SB_CONTINUE:
      if (run.exit_recorded && run.exit_by == inst) {
        sb::log::warn("[{}] {} phase: respond() followed by SB_CONTINUE; treated as SB_EXITED",
                      inst->plugin->name, phase_name(phase));
      }
      break;
    case SB_EXITED:
      if (!run.exit_recorded) fail("returned SB_EXITED without calling respond()");
      break;
    case SB_PENDING:
      if (phase != kPhaseRewrite && phase != kPhaseAccess) {
        fail("returned SB_PENDING where it is not allowed");
        break;
      }
      run.pending = true;
      run.pending_instance = inst;
      if (timer_ == Timer::none) {
        timer_ = Timer::plugin;
        stream_.timer_start(kPendingTimeoutMs);
      }
      return false;
    case SB_ERROR:
      fail("returned SB_ERROR");
      break;
    default:
      fail(fmt::format("returned an unknown result {}", r));
      break;
  }
  if (run.exit_recorded && run.stage == PluginRun::Stage::rewrite) {
    run.stage = PluginRun::Stage::done;  // a rewrite exit skips the rest and the access phase
  }
  return true;
}

void ClientSession::plugins_start() {
  PluginRun& run = *txn_->plugins;
  if (run.waiting_body) return;  // started again when the body is complete
  run.stage = PluginRun::Stage::rewrite;
  run.next = 0;
  plugins_run_request_phases();
}

void ClientSession::plugins_run_request_phases() {
  Transaction& t = *txn_;
  PluginRun& run = *t.plugins;
  const auto& global = run.compiled->global();
  const Snapshot& snap = *t.snapshot;
  int route = static_cast<int>(t.match.route - snap.config.routes.data());
  int service = t.match.route->service;
  while (run.stage == PluginRun::Stage::rewrite || run.stage == PluginRun::Stage::access) {
    if (run.stage == PluginRun::Stage::rewrite) {
      if (run.next >= global.entries.size()) {
        run.stage = PluginRun::Stage::access;
        run.next = 0;
        run.access_ran = true;
        continue;
      }
      const Instance* inst = global.entries[run.next++].base;
      if (inst == nullptr || inst->plugin->hooks.on_rewrite == nullptr) continue;
      if (!plugins_result(run, inst, kPhaseRewrite, plugins_call(run, inst, kPhaseRewrite))) return;
      continue;
    }
    if (run.next >= run.chain->entries.size()) {
      run.stage = PluginRun::Stage::done;
      break;
    }
    const Instance* inst =
        run.compiled->resolve(run.chain->entries[run.next++], route, service, run.consumer);
    if (inst == nullptr) continue;
    run.collected.push_back(inst);  // collected even after an exit: its filters and log run
    if (run.exit_recorded || inst->plugin->hooks.on_access == nullptr) continue;
    if (!plugins_result(run, inst, kPhaseAccess, plugins_call(run, inst, kPhaseAccess))) return;
  }
  if (timer_ == Timer::plugin) {
    timer_ = Timer::none;
    stream_.timer_stop();
  }
  if (run.exit_recorded) {
    plugins_apply_exit();
    return;
  }
  plugins_proceed();
}

void ClientSession::plugins_resume() {
  Transaction& t = *txn_;
  PluginRun& run = *t.plugins;
  if (!run.resumed || run.in_hook) return;
  run.resumed = false;
  run.pending = false;
  if (closing_) return;  // the client is gone (its close is under way): nothing to continue
  uint32_t phase = run.ctx.phase;
  run.ctx.phase = 0;
  const Instance* inst = run.pending_instance;
  run.pending_instance = nullptr;
  if (!plugins_result(run, inst, phase, run.resume_result)) return;
  plugins_run_request_phases();
}

void ClientSession::plugins_pending_timeout() {
  Transaction& t = *txn_;
  PluginRun& run = *t.plugins;
  const Instance* inst = run.pending_instance;
  sb::log::error("[{}] did not resume within {} ms; answering 500",
                 inst != nullptr ? inst->plugin->name : "plugin", kPendingTimeoutMs);
  worker_->plugin_ops().cancel_request(run);
  run.pending = false;
  run.resumed = false;
  run.ctx.phase = 0;
  run.exit_recorded = true;
  run.exit_is_error = true;
  run.exit_status = 500;
  run.exit_body.clear();
  run.stage = PluginRun::Stage::done;
  plugins_apply_exit();
}

// The request goes upstream with what the plugins changed.
void ClientSession::plugins_proceed() {
  Transaction& t = *txn_;
  PluginRun& run = *t.plugins;
  if (run.body_buffered) {
    // A buffered body leaves with Content-Length, as nginx sends a buffered request body.
    t.chunked = false;
    t.content_length = static_cast<int64_t>(run.request_body.size());
    t.body_expected = !run.request_body.empty();
    t.pending_body.assign(run.request_body);
  }
  connect_upstream();
}

void ClientSession::plugins_apply_exit() {
  Transaction& t = *txn_;
  PluginRun& run = *t.plugins;
  if (!t.request_complete) close_after_response_ = true;
  if (run.exit_is_error) {
    run.response_source = "error";
    respond_error(run.exit_status, run.exit_body, ErrorSource::kong);
    return;
  }
  run.response_source = "exit";
  std::string_view content_type;
  for (const auto& [n, v] : run.exit_headers)
    if (iequals(n, "Content-Type")) content_type = v;
  respond_local(run.exit_status, content_type, run.exit_body);
}

// ---------------------------------------------------------------------------------------------
// Response phases

// The collected plugins (or, when access never ran, the global configs) whose `hook` runs.
const std::vector<const Instance*>& ClientSession::plugins_response_list(PluginRun& run) {
  if (!run.access_ran && run.collected.empty() && run.compiled != nullptr) {
    for (const auto& e : run.compiled->global().entries)
      if (e.base != nullptr) run.collected.push_back(e.base);
    run.access_ran = true;  // collected once
  }
  return run.collected;
}

void ClientSession::plugins_apply_response_ops(PluginRun& run, MessageHead& head) {
  for (const auto& op : run.response_ops) {
    switch (op.kind) {
      case HeaderOp::set:
        head.set_field(run.op_name(op), run.op_value(op));
        break;
      case HeaderOp::add:
        head.add_field(run.op_name(op), run.op_value(op));
        break;
      case HeaderOp::remove:
        head.remove_fields(run.op_name(op));
        break;
    }
  }
  if (run.status_override != 0) head.status = run.status_override;
}

void ClientSession::plugins_header_filter(PluginRun& run, MessageHead& head) {
  run.response_head = &head;
  for (const Instance* inst : plugins_response_list(run)) {
    if (inst->plugin->hooks.on_header_filter == nullptr) continue;
    sb_result r = plugins_call(run, inst, kPhaseHeaderFilter);
    if (r != SB_CONTINUE && r != SB_EXITED) {
      sb::log::error("[{}] header_filter returned {}; response headers kept as they are",
                     inst->plugin->name, r);
    }
  }
}

// Runs body_filter over one chunk; returns what to send (a view into the chunk or a copy).
std::string_view ClientSession::plugins_body_filter(PluginRun& run, std::string_view chunk,
                                                    bool eos) {
  for (const Instance* inst : run.collected) {
    if (inst->plugin->hooks.on_body_filter == nullptr) continue;
    sb_str slice = out_str(chunk);
    run.chunk_len = chunk.size();
    run.chunk_replaced = false;
    run.ctx.phase = kPhaseBodyFilter;
    run.ctx.instance = inst;
    run.ctx.plugin = inst->plugin;
    run.in_hook = true;
    sb_result r = inst->plugin->hooks.on_body_filter(&run.ctx, inst->cfg, &slice,
                                                     chunk.empty() ? 0 : 1, eos ? 1 : 0);
    run.in_hook = false;
    run.ctx.phase = 0;
    run.scratch_strings.clear();
    if (r != SB_CONTINUE) {
      sb::log::error("[{}] body_filter returned {}; chunk passed on unchanged", inst->plugin->name,
                     r);
      continue;
    }
    if (run.chunk_replaced) {
      run.chunk_hold.swap(run.chunk_out);  // the next plugin sees the replacement
      chunk = run.chunk_hold;
    }
  }
  return chunk;
}

// Upstream response head: runs header_filter; true when the head is held back because the
// body is buffered first (response phase or SB_BODY_BUFFER).
bool ClientSession::plugins_on_upstream_head(MessageHead& head) {
  PluginRun& run = *txn_->plugins;
  run.upstream_head = &head;
  run.upstream_status = head.status;
  run.response_source = "service";
  const auto& list = plugins_response_list(run);
  bool wants_response = false, filters = !run.response_ops.empty() || run.status_override;
  for (const Instance* inst : list) {
    const auto& h = inst->plugin->hooks;
    wants_response = wants_response || h.on_response != nullptr;
    filters = filters || h.on_header_filter != nullptr || h.on_body_filter != nullptr ||
              h.on_response != nullptr;
  }
  run.filters_response = filters;
  if (!filters) return false;
  plugins_apply_response_ops(run, head);
  run.response_head = &head;
  if (wants_response) {
    run.buffering_response = true;  // Kong's buffered proxying: response phase first
    run.run_response_phase = true;
    return true;
  }
  plugins_header_filter(run, head);
  if (run.body_mode == SB_BODY_BUFFER) {
    run.buffering_response = true;
    return true;
  }
  if (run.body_mode == SB_BODY_RESIZE) {
    head.content_length = -1;
    head.chunked = true;
  }
  return false;
}

// Upstream body bytes for plugins. Returns true when they were consumed (buffered or written).
bool ClientSession::plugins_on_upstream_body(const char* data, size_t len) {
  PluginRun& run = *txn_->plugins;
  if (!run.filters_response) return false;
  if (run.buffering_response) {
    if (run.response_buffer.size() + len > kMaxBufferedBody) {
      sb::log::error("response body over {} bytes cannot be buffered for plugins; 502",
                     kMaxBufferedBody);
      txn_->conn->abort();
      txn_->conn = nullptr;
      run.buffering_response = false;
      run.filters_response = false;
      close_after_response_ = true;
      respond_error(502, {}, ErrorSource::nginx);
      return true;
    }
    run.response_buffer.append(data, len);
    return true;
  }
  run.response_bytes += len;
  std::string_view out = plugins_body_filter(run, std::string_view(data, len), false);
  write_response_body(out.data(), out.size());
  return true;
}

// The upstream response ended: finish buffered responses, flush filters' last chunk.
void ClientSession::plugins_on_upstream_end() {
  PluginRun& run = *txn_->plugins;
  if (!run.filters_response) return;
  if (run.buffering_response) {
    MessageHead& head = *run.response_head;
    if (run.run_response_phase) {
      for (const Instance* inst : run.collected) {
        if (inst->plugin->hooks.on_response == nullptr) continue;
        sb_result r = plugins_call(run, inst, kPhaseResponse);
        if (r != SB_CONTINUE) {
          sb::log::error("[{}] response phase returned {}; response kept", inst->plugin->name, r);
        }
      }
      plugins_header_filter(run, head);
    }
    std::string body = std::move(run.response_buffer);
    std::string_view out = plugins_body_filter(run, body, true);
    std::string final_body(out);
    head.chunked = false;
    head.content_length = static_cast<int64_t>(final_body.size());
    run.buffering_response = false;
    run.response_bytes = final_body.size();
    write_upstream_response_head(head);  // corks: the head leaves with the body
    write_response_body(final_body.data(), final_body.size());
    stream_.uncork();
    return;
  }
  std::string_view tail = plugins_body_filter(run, {}, true);
  if (!tail.empty()) {
    run.response_bytes += tail.size();
    write_response_body(tail.data(), tail.size());
  }
}

// A response the gateway makes (exit, error, 404...) through header_filter and body_filter.
void ClientSession::plugins_local_response(int status, std::string_view content_type,
                                           std::string_view body, std::string_view extra_headers) {
  PluginRun& run = plugin_run();
  if (!run.exit_recorded) run.response_source = "error";
  if (!run.local_head) run.local_head = std::make_unique<MessageHead>();
  MessageHead& head = *run.local_head;
  head.clear();
  head.status = status;
  if (!content_type.empty()) head.add_field("Content-Type", content_type);
  // extra_headers: "Name: value\r\n" lines made by the gateway (Location, Retry-After...).
  while (!extra_headers.empty()) {
    size_t eol = extra_headers.find("\r\n");
    std::string_view line = extra_headers.substr(0, eol);
    extra_headers =
        eol == std::string_view::npos ? std::string_view() : extra_headers.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    head.add_field(line.substr(0, colon), sb::http::trim(line.substr(colon + 1)));
  }
  if (run.exit_recorded && !run.exit_is_error) {
    for (const auto& [n, v] : run.exit_headers)
      if (!iequals(n, "Content-Type")) head.add_field(n, v);
  } else if (run.exit_recorded) {
    for (const auto& [n, v] : run.exit_headers) head.add_field(n, v);
  }
  plugins_apply_response_ops(run, head);
  plugins_header_filter(run, head);
  std::string_view out = plugins_body_filter(run, body, true);
  std::string final_body(out);
  run.response_bytes = final_body.size();
  std::string ct;
  std::string extra;
  for (size_t i = 0; i < head.field_count(); ++i) {
    if (iequals(head.name(i), "Content-Type")) {
      ct.assign(head.value(i));
      continue;
    }
    if (iequals(head.name(i), "Content-Length")) continue;
    extra.append(head.name(i)).append(": ").append(head.value(i)).append("\r\n");
  }
  write_local_response(head.status, ct, final_body, extra, false);
}

void ClientSession::plugins_log() {
  Transaction& t = *txn_;
  if (!t.plugins_active) return;
  PluginRun& run = *t.plugins;
  if (run.log_ran || run.compiled == nullptr) return;
  run.log_ran = true;
  run.response_head = nullptr;  // read-only from here (and the head may be gone)
  for (const Instance* inst : plugins_response_list(run)) {
    if (inst->plugin->hooks.on_log == nullptr) continue;
    plugins_call(run, inst, kPhaseLog);
  }
}

// The certificate phase: global configs, during the handshake, before any request. The ctx has
// no request: only the SNI, ports and logging are available (the PDK checks the phase).
void ClientSession::plugins_certificate(const Snapshot& snap) {
  for (const auto& e : snap.plugins->global().entries) {
    if (e.base == nullptr || e.plugin->hooks.on_certificate == nullptr) continue;
    sb_ctx ctx;
    ctx.phase = kPhaseCertificate;
    ctx.worker = worker_;
    ctx.session = this;
    ctx.plugin = e.plugin;
    ctx.instance = e.base;
    sb_result r = e.plugin->hooks.on_certificate(&ctx, e.base->cfg);
    if (r != SB_CONTINUE) {
      sb::log::error("[{}] certificate phase returned {}; handshake continues", e.plugin->name, r);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Request facts for the PDK

sb_status ClientSession::plugin_var(sb_ctx& ctx, uint32_t var, sb_str* out) {
  if (ctx.phase == kPhaseCertificate) {
    if (var != SB_VAR_TLS_SNI || !stream_.tls()) return SB_E_WRONG_PHASE;
    std::string_view sni = stream_.tls()->server_name();
    *out = out_str(sni);
    return sni.empty() ? SB_E_NOT_FOUND : SB_OK;
  }
  Transaction& t = *txn_;
  PluginRun& run = *ctx.run;
  const MessageHead& head = parser_->head();
  const Snapshot& snap = *t.snapshot;
  auto give = [&](std::string_view s) {
    *out = out_str(s);
    return SB_OK;
  };
  auto maybe = [&](std::string_view s) { return s.empty() ? SB_E_NOT_FOUND : give(s); };
  auto instance_scope = [&](int idx, auto& vec) -> sb_status {
    if (ctx.instance == nullptr || idx < 0) return SB_E_NOT_FOUND;
    return give(vec[static_cast<size_t>(idx)].id);
  };
  switch (var) {
    case SB_VAR_METHOD:
      return give(llhttp_method_name(static_cast<llhttp_method_t>(head.method)));
    case SB_VAR_SCHEME:
      return give(https_ ? "https" : "http");
    case SB_VAR_HOST:
      return give(t.host);
    case SB_VAR_PATH:
      return give(t.path);
    case SB_VAR_RAW_PATH:
      return give(t.raw_path);
    case SB_VAR_RAW_QUERY:
      return give(t.query.empty() ? t.query : t.query.substr(1));
    case SB_VAR_HTTP_VERSION:
      return give(head.http_minor == 0 ? "1.0" : "1.1");
    case SB_VAR_CLIENT_IP:
    case SB_VAR_FORWARDED_IP:
      if (run.client_ip.empty()) {
        char buf[46];
        run.client_ip.assign(peer_ip(buf));
        run.forwarded_ip.assign(
            client_forwarded_ip(head, worker_->settings(), run.client_ip, trusted_));
      }
      return give(var == SB_VAR_CLIENT_IP ? run.client_ip : run.forwarded_ip);
    case SB_VAR_REQUEST_ID:
      return give(std::string_view(t.request_id, sizeof(t.request_id)));
    case SB_VAR_ROUTE_ID:
      return t.match.route ? give(t.match.route->id) : SB_E_NOT_FOUND;
    case SB_VAR_ROUTE_NAME:
      return t.match.route ? maybe(t.match.route->name) : SB_E_NOT_FOUND;
    case SB_VAR_SERVICE_ID:
      return t.match.service ? give(t.match.service->id) : SB_E_NOT_FOUND;
    case SB_VAR_SERVICE_NAME:
      return t.match.service ? maybe(t.match.service->name) : SB_E_NOT_FOUND;
    case SB_VAR_CONSUMER_ID:
      return run.consumer >= 0 ? give(snap.config.consumers[run.consumer].id) : SB_E_NOT_FOUND;
    case SB_VAR_CREDENTIAL_ID: {
      const auto* id = run.credential ? run.credential->get("id") : nullptr;
      return id != nullptr ? give(id->s) : SB_E_NOT_FOUND;
    }
    case SB_VAR_PLUGIN_ID:
      return ctx.instance ? give(ctx.instance->entity->id) : SB_E_NOT_FOUND;
    case SB_VAR_PLUGIN_ROUTE_ID:
      return ctx.instance ? instance_scope(ctx.instance->route, snap.config.routes)
                          : SB_E_NOT_FOUND;
    case SB_VAR_PLUGIN_SERVICE_ID:
      return ctx.instance ? instance_scope(ctx.instance->service, snap.config.services)
                          : SB_E_NOT_FOUND;
    case SB_VAR_PLUGIN_CONSUMER_ID:
      return ctx.instance ? instance_scope(ctx.instance->consumer, snap.config.consumers)
                          : SB_E_NOT_FOUND;
    case SB_VAR_TLS_SNI:
      return https_ && stream_.tls() ? maybe(stream_.tls()->server_name()) : SB_E_NOT_FOUND;
    case SB_VAR_UPSTREAM_PATH:
      return give(t.match.upstream_path);
    case SB_VAR_UPSTREAM_QUERY:
      if (run.query_overridden)
        return give(run.query_override.empty() ? std::string_view()
                                               : std::string_view(run.query_override).substr(1));
      return give(t.query.empty() ? t.query : t.query.substr(1));
    case SB_VAR_UPSTREAM_METHOD:
      if (!run.method_override.empty()) return give(run.method_override);
      return give(llhttp_method_name(static_cast<llhttp_method_t>(head.method)));
    case SB_VAR_RESPONSE_SOURCE:
      if (ctx.phase != kPhaseHeaderFilter && ctx.phase != kPhaseBodyFilter &&
          ctx.phase != kPhaseLog && ctx.phase != kPhaseResponse)
        return SB_E_WRONG_PHASE;
      return give(run.response_source);
    case SB_VAR_FORWARDED_SCHEME: {
      std::string_view p = trusted_ ? head.get("X-Forwarded-Proto") : std::string_view();
      return give(!p.empty() ? p : std::string_view(https_ ? "https" : "http"));
    }
    case SB_VAR_FORWARDED_HOST: {
      std::string_view h = trusted_ ? head.get("X-Forwarded-Host") : std::string_view();
      return give(!h.empty() ? h : std::string_view(t.host));
    }
    default:
      return SB_E_INVALID_ARG;
  }
}

sb_status ClientSession::plugin_num(sb_ctx& ctx, uint32_t num, int64_t* out) {
  if (ctx.phase == kPhaseCertificate) {
    if (num == SB_NUM_CLIENT_PORT) *out = peer_port_;
    if (num == SB_NUM_SERVER_PORT) *out = local_port_;
    return num == SB_NUM_CLIENT_PORT || num == SB_NUM_SERVER_PORT ? SB_OK : SB_E_WRONG_PHASE;
  }
  Transaction& t = *txn_;
  PluginRun& run = *ctx.run;
  switch (num) {
    case SB_NUM_CLIENT_PORT:
    case SB_NUM_FORWARDED_PORT:
      *out = peer_port_;
      return SB_OK;
    case SB_NUM_SERVER_PORT:
      *out = local_port_;
      return SB_OK;
    case SB_NUM_START_TIME_MS:
      *out = worker_->epoch_ms() - static_cast<int64_t>(uv_now(worker_->loop()) - t.start_ms);
      return SB_OK;
    case SB_NUM_RESPONSE_STATUS:
      if (run.response_head != nullptr) {
        *out = run.response_head->status;
      } else if (run.status_override != 0) {
        *out = run.status_override;
      } else if (run.exit_recorded) {
        *out = run.exit_status;
      } else {
        *out = t.status;
      }
      return SB_OK;
    case SB_NUM_UPSTREAM_STATUS:
      *out = run.upstream_status;
      return SB_OK;
    case SB_NUM_CONNECTION_ID:
      *out = connection_id_;
      return SB_OK;
    case SB_NUM_CONNECTION_REQUESTS:
      *out = request_serial_;
      return SB_OK;
    case SB_NUM_REQUEST_BODY_SIZE:
      *out = static_cast<int64_t>(t.body_received);
      return SB_OK;
    case SB_NUM_RESPONSE_BODY_SIZE:
      *out = static_cast<int64_t>(run.response_bytes);
      return SB_OK;
    default:
      return SB_E_INVALID_ARG;
  }
}

// Kong's log serializer (kong.log.serialize), the fields Silverback knows.
void ClientSession::plugin_serialize(sb_ctx& ctx, std::string& out) {
  Transaction& t = *txn_;
  PluginRun& run = *ctx.run;
  const MessageHead& head = parser_->head();
  const Snapshot& snap = *t.snapshot;
  auto q = [](std::string_view s) { return fmt::format("\"{}\"", sb::json_escape(s)); };
  out.clear();
  auto it = std::back_inserter(out);
  sb_str ip{};
  plugin_var(ctx, SB_VAR_FORWARDED_IP, &ip);
  std::string_view scheme = https_ ? "https" : "http";
  fmt::format_to(it, "{{\"request\":{{\"id\":{},\"method\":{},\"uri\":{},\"url\":{},",
                 q(std::string_view(t.request_id, sizeof(t.request_id))),
                 q(llhttp_method_name(static_cast<llhttp_method_t>(head.method))), q(head.target()),
                 q(fmt::format("{}://{}:{}{}", scheme, t.host, local_port_, head.target())));
  out += "\"querystring\":{";
  std::string_view query = t.query.empty() ? t.query : t.query.substr(1);
  bool first = true;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (!first) out += ',';
    first = false;
    out += q(pair.substr(0, eq));
    out += ':';
    out += eq == std::string_view::npos ? std::string("true") : q(pair.substr(eq + 1));
  }
  out += "},\"headers\":{";
  for (size_t i = 0; i < head.field_count(); ++i) {
    if (i > 0) out += ',';
    std::string name(head.name(i));
    for (char& c : name)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    bool secret = name == "authorization" || name == "proxy-authorization";
    out += q(name);
    out += ':';
    out += q(secret ? std::string_view("REDACTED") : head.value(i));
  }
  fmt::format_to(it, "}},\"size\":{}}},", t.body_received);
  fmt::format_to(it, "\"upstream_uri\":{},", q(t.match.upstream_path + std::string(t.query)));
  if (run.upstream_status != 0)
    fmt::format_to(it, "\"upstream_status\":\"{}\",", run.upstream_status);
  int64_t status = 0;
  plugin_num(ctx, SB_NUM_RESPONSE_STATUS, &status);
  fmt::format_to(it, "\"response\":{{\"status\":{},\"size\":{}}},", status, run.response_bytes);
  uint64_t now = uv_now(worker_->loop());
  uint64_t total = now - t.start_ms;
  uint64_t proxy = t.upstream_head_ms >= t.upstream_start_ms && t.upstream_start_ms != 0
                       ? t.upstream_head_ms - t.upstream_start_ms
                       : 0;
  fmt::format_to(it, "\"latencies\":{{\"request\":{},\"proxy\":{},\"kong\":{}}},", total, proxy,
                 total >= proxy ? total - proxy : 0);
  fmt::format_to(it, "\"tries\":[],\"client_ip\":{},\"started_at\":{},\"source\":{},",
                 q(std::string_view(ip.ptr, ip.len)),
                 worker_->epoch_ms() - static_cast<int64_t>(total), q(run.response_source));
  if (t.match.route != nullptr) {
    fmt::format_to(it, "\"route\":{{\"id\":{},\"name\":{}}},", q(t.match.route->id),
                   t.match.route->name.empty() ? "null" : q(t.match.route->name));
  }
  if (t.match.service != nullptr) {
    const auto& s = *t.match.service;
    fmt::format_to(it,
                   "\"service\":{{\"id\":{},\"name\":{},\"host\":{},\"port\":{},\"protocol\":{}}},",
                   q(s.id), s.name.empty() ? "null" : q(s.name), q(s.host), s.port, q(s.protocol));
  }
  if (run.consumer >= 0) {
    const auto& c = snap.config.consumers[static_cast<size_t>(run.consumer)];
    fmt::format_to(it, "\"consumer\":{{\"id\":{},\"username\":{},\"custom_id\":{}}},", q(c.id),
                   c.username.empty() ? "null" : q(c.username),
                   c.custom_id.empty() ? "null" : q(c.custom_id));
  }
  if (run.credential != nullptr) {
    out += "\"authenticated_entity\":";
    out += run.credential->to_json();
    out += ',';
  }
  out += "\"workspace\":\"00000000-0000-0000-0000-000000000000\",\"workspace_name\":\"default\"}";
}

}  // namespace sb::proxy
