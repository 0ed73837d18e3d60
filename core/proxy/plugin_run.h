// A request's plugin state: the ABI's sb_ctx, the chain being run, the plugins collected for
// the response phases, and everything plugins recorded (exit, consumer, ctx data, overrides).
// Allocated the first time a request runs a plugin and recycled with its Transaction.
#pragma once

#include <silverback/plugin.h>

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/value.h"
#include "http/message.h"
#include "plugins/chain.h"

namespace sb::proxy {
class ClientSession;
class Worker;
struct Transaction;
struct PluginRun;
}  // namespace sb::proxy

// Phase bits (what a PDK slot allows).
enum SbPhase : uint32_t {
  kPhaseInitWorker = 1u << 0,
  kPhaseCertificate = 1u << 1,
  kPhaseRewrite = 1u << 2,
  kPhaseAccess = 1u << 3,
  kPhaseResponse = 1u << 4,
  kPhaseHeaderFilter = 1u << 5,
  kPhaseBodyFilter = 1u << 6,
  kPhaseLog = 1u << 7,
};

// The ABI's opaque context. A request ctx lives inside its PluginRun; a worker ctx (one per
// loaded plugin per worker) lives as long as the worker.
struct sb_ctx {
  bool worker_scope = false;
  uint32_t phase = 0;  // SbPhase bit of the running hook (0 between hooks)
  sb::proxy::Worker* worker = nullptr;
  sb::proxy::ClientSession* session = nullptr;  // request ctx only
  sb::proxy::Transaction* txn = nullptr;        // request ctx only
  sb::proxy::PluginRun* run = nullptr;          // request ctx only
  const sb::plugins::LoadedPlugin* plugin = nullptr;
  const sb::plugins::Instance* instance = nullptr;  // request ctx: the running hook's instance
};

namespace sb::proxy {

// The header operations plugins made on the response before it existed (rewrite/access).
// Name and value are offsets into PluginRun::response_ops_text, so recording costs no
// allocation once a recycled run has grown its buffers.
struct HeaderOp {
  enum Kind : uint8_t { set, add, remove } kind;
  uint32_t name_at, name_len, value_at, value_len;
};

struct PluginRun {
  sb_ctx ctx;
  const sb::plugins::CompiledPlugins* compiled = nullptr;
  const sb::plugins::Chain* chain = nullptr;
  std::vector<const sb::plugins::Instance*> collected;  // access-phase picks, in chain order

  // Where the request phases are.
  enum class Stage : uint8_t { idle, rewrite, access, response, done } stage = Stage::idle;
  size_t next = 0;       // chain index of the next plugin to run
  bool pending = false;  // a hook returned SB_PENDING
  bool resumed = false;  // resume() was called; continue after the callback returns
  sb_result resume_result = SB_CONTINUE;
  bool waiting_body = false;   // phases wait for the whole request body
  bool body_buffered = false;  // the request body is read into request_body (not streamed)
  bool in_hook = false;
  bool access_ran = false;
  bool log_ran = false;
  const sb::plugins::Instance* pending_instance = nullptr;

  // kong.response.exit / error, recorded and applied after the hook returns.
  bool exit_recorded = false;
  const sb::plugins::Instance* exit_by = nullptr;  // whose hook recorded the exit
  bool exit_is_error = false;
  int exit_status = 0;
  int status_override = 0;  // kong.response.set_status before the response exists
  std::string exit_body;    // body, or the message for an error
  std::vector<std::pair<std::string, std::string>> exit_headers;
  std::string response_source = "service";

  // kong.client
  int consumer = -1;                              // index into the generation's Config::consumers
  const sb::config::Value* credential = nullptr;  // entity row
  std::string client_ip, forwarded_ip;            // computed on first use

  std::vector<std::pair<std::string, std::string>> shared;  // kong.ctx.shared
  struct Data {
    const sb::plugins::Instance* instance;
    void* data;
    sb_dtor_fn dtor;
  };
  std::vector<Data> data;  // kong.ctx.plugin
  std::vector<HeaderOp> response_ops;
  std::string response_ops_text;
  std::string_view op_name(const HeaderOp& op) const {
    return std::string_view(response_ops_text).substr(op.name_at, op.name_len);
  }
  std::string_view op_value(const HeaderOp& op) const {
    return std::string_view(response_ops_text).substr(op.value_at, op.value_len);
  }

  // Request body (with SB_CFG_READS_REQUEST_BODY) and what replaces it upstream.
  std::string request_body;
  bool request_body_complete = false;
  bool request_body_too_large = false;
  bool request_body_replaced = false;
  std::string query_override;  // "?..." or empty
  bool query_overridden = false;
  std::string method_override;
  std::string host_override;  // Host set through SB_HDR_UPSTREAM_REQUEST
  std::string target_host;    // kong.service.set_target
  int target_port = 0;
  int upstream_override = -1;  // kong.service.set_upstream (index into Config::upstreams)

  // Response side.
  uint32_t body_mode = SB_BODY_STREAM;
  bool filters_response = false;  // a collected plugin has header/body filters
  std::string response_buffer;    // SB_BODY_BUFFER / on_response
  std::string chunk_out;          // body_set's copy for the current chunk
  bool chunk_replaced = false;
  std::string chunk_hold;  // the replacement the next plugin sees
  bool buffering_response = false;
  bool run_response_phase = false;
  size_t chunk_len = 0;                            // size of the chunk body_filter is looking at
  sb::http::MessageHead* response_head = nullptr;  // mutable head in header_filter
  const sb::http::MessageHead* upstream_head = nullptr;  // upstream's, while it is valid
  std::unique_ptr<sb::http::MessageHead> local_head;     // for gateway-made responses
  std::string serialized;                                // log_serialize
  std::deque<std::string> scratch_strings;  // values built for a hook (stable addresses)
  uint64_t response_bytes = 0;
  int upstream_status = 0;

  std::vector<sb_op> ops;  // async operations started by this request

  // Drops per-request state (runs ctx data destructors; ops must be cancelled first).
  void clear();
  ~PluginRun() { clear(); }
};

}  // namespace sb::proxy
