// correlation-id, as Kong 3.9 (kong/plugins/correlation-id/handler.lua): see correlation_id.h.
#include "correlation_id.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <random>

namespace sbp::correlation_id {

const char kConfigSchema[] = R"({
  "name": "correlation-id",
  "fields": [
    {"protocols": {"type": "set", "required": true, "default": ["grpc", "grpcs", "http", "https"],
                   "elements": {"type": "string", "one_of": ["grpc", "grpcs", "http", "https"]}}},
    {"config": {"type": "record", "fields": [
      {"header_name": {"type": "string", "default": "Kong-Request-ID",
                       "description": "The header carrying the correlation id."}},
      {"generator": {"type": "string", "default": "uuid#counter", "required": true,
                     "one_of": ["uuid", "uuid#counter", "tracker"]}},
      {"echo_downstream": {"type": "boolean", "required": true, "default": false,
                           "description": "Also send the id back in the response."}}
    ]}}
  ]
})";

namespace {

// Per worker thread: a random generator, and uuid#counter's worker uuid and counter (Kong keeps
// them per worker process; Silverback's workers are threads).
struct WorkerIds {
  std::mt19937_64 rng{std::random_device{}()};
  char uuid[36];
  uint64_t counter = 0;
  bool has_uuid = false;
};
WorkerIds& worker_ids() {
  thread_local WorkerIds w;
  return w;
}

// The id access() chose, kept for header_filter (Kong's kong.ctx.plugin.correlation_id).
struct Chosen {
  std::string id;
};

}  // namespace

void uuid_v4(char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  WorkerIds& w = worker_ids();
  uint64_t hi = w.rng(), lo = w.rng();
  unsigned char b[16];
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<unsigned char>(hi >> (8 * i));
    b[8 + i] = static_cast<unsigned char>(lo >> (8 * i));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  size_t o = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = kHex[b[i] >> 4];
    out[o++] = kHex[b[i] & 0xF];
  }
}

void reset_worker_uuid() {
  WorkerIds& w = worker_ids();
  uuid_v4(w.uuid);
  w.counter = 0;
  w.has_uuid = true;
}

size_t generate(sb::Ctx& ctx, Generator generator, char* buf) {
  switch (generator) {
    case Generator::kUuid:
      uuid_v4(buf);
      return 36;
    case Generator::kUuidCounter: {
      WorkerIds& w = worker_ids();
      if (!w.has_uuid) reset_worker_uuid();  // a worker whose init_worker did not run
      std::memcpy(buf, w.uuid, 36);
      int n = std::snprintf(buf + 36, kIdCap - 36, "#%" PRIu64, ++w.counter);
      return 36 + static_cast<size_t>(n);
    }
    case Generator::kTracker: {
      // Kong: <server_addr>-<server_port>-<worker pid>-<connection>-<connection_requests>-
      // <now, seconds with 3 decimals>. The worker is a thread here, so its thread id stands in
      // for the pid. The ABI has no server (local) address yet: "0.0.0.0" until it does.
      int64_t now_ms = ctx.now_ms();
      int n = std::snprintf(
          buf, kIdCap, "%s-%" PRId64 "-%ld-%" PRId64 "-%" PRId64 "-%" PRId64 ".%03" PRId64,
          "0.0.0.0", ctx.num(SB_NUM_SERVER_PORT).value_or(0),
          static_cast<long>(::syscall(SYS_gettid)), ctx.num(SB_NUM_CONNECTION_ID).value_or(0),
          ctx.num(SB_NUM_CONNECTION_REQUESTS).value_or(0), now_ms / 1000, now_ms % 1000);
      return n < 0 ? 0 : std::min(static_cast<size_t>(n), kIdCap - 1);
    }
  }
  return 0;
}

CorrelationId::Config CorrelationId::compile(const sb::Value& conf) {
  Config c;
  sb::Value header = conf["header_name"];
  if (header.is_string()) {
    c.header_name = header.string();
  } else if (header && header.is_null()) {
    // Kong accepts a null header_name and then fails every request; refuse it up front.
    throw sb::ConfigError("config.header_name: required field missing");
  }
  if (c.header_name.empty()) throw sb::ConfigError("config.header_name: length must be at least 1");
  sb::Value gen = conf["generator"];
  std::string_view g = gen.is_string() ? gen.str() : "uuid#counter";
  if (g == "uuid") {
    c.generator = Generator::kUuid;
  } else if (g == "uuid#counter") {
    c.generator = Generator::kUuidCounter;
  } else if (g == "tracker") {
    c.generator = Generator::kTracker;
  } else {
    throw sb::ConfigError("config.generator: expected one of: uuid, uuid#counter, tracker");
  }
  sb::Value echo = conf["echo_downstream"];
  c.echo_downstream = echo.is_bool() && echo.boolean();
  return c;
}

void CorrelationId::init_worker(sb::WorkerCtx&) { reset_worker_uuid(); }

sb::Result CorrelationId::access(sb::Ctx& ctx, const Config& cfg) {
  char buf[kIdCap];
  std::string_view id;
  auto incoming = ctx.request().header(cfg.header_name);
  if (incoming && !incoming->empty()) {
    id = *incoming;  // a non-empty incoming id is kept as is
  } else {
    id = std::string_view(buf, generate(ctx, cfg.generator, buf));
    if (sb::Status st = ctx.service_request().set_header(cfg.header_name, id); !st) {
      ctx.log().err("could not set ", cfg.header_name, ": ", st.name());
      return sb::Result::Error;
    }
  }
  // Kong also records it in the log serializer (kong.log.set_serialize_value("correlation_id",
  // id)); the ABI has no slot for that yet.
  if (cfg.echo_downstream) ctx.ctx_plugin().emplace<Chosen>(Chosen{std::string(id)});
  return sb::Result::Continue;
}

sb::Result CorrelationId::header_filter(sb::Ctx& ctx, const Config& cfg) {
  if (!cfg.echo_downstream) return sb::Result::Continue;
  char buf[kIdCap];
  std::string_view id;
  if (const Chosen* chosen = ctx.ctx_plugin().get<Chosen>()) {
    id = chosen->id;
  } else if (auto incoming = ctx.request().header(cfg.header_name)) {
    id = *incoming;  // access did not run (e.g. no route): the client's id
  }
  if (id.empty()) id = std::string_view(buf, generate(ctx, cfg.generator, buf));
  if (sb::Status st = ctx.response().set_header(cfg.header_name, id); !st) {
    ctx.log().err("could not set ", cfg.header_name, ": ", st.name());
    return sb::Result::Error;
  }
  return sb::Result::Continue;
}

}  // namespace sbp::correlation_id
