// hello-cpp: the C++ SDK example. Denies requests without a configured header (403), waits
// `delay_ms` on a timer before letting them through (async: access returns Pending and the
// timer resumes the request), and adds a response header in header_filter.
#include <silverback/plugin.hpp>

#include <cstdint>
#include <string>

namespace {

constexpr const char* kSchema = R"({
  "name": "hello-cpp",
  "fields": [
    {"config": {"type": "record", "fields": [
      {"header": {"type": "string", "required": true}},
      {"response_header": {"type": "string", "default": "X-Hello"}},
      {"response_value": {"type": "string", "default": "world"}},
      {"delay_ms": {"type": "integer", "default": 0, "between": [0, 10000]}}
    ]}}
  ]
})";

struct HelloCpp {
  struct Config {
    std::string header;
    std::string response_header;
    std::string response_value;
    uint64_t delay_ms = 0;
  };

  static Config compile(const sb::Value& conf) {
    Config c{conf["header"].string(), conf["response_header"].string(),
             conf["response_value"].string(), 0};
    if (c.header.empty()) throw sb::ConfigError("config.header must not be empty");
    int64_t delay = conf["delay_ms"].integer();
    if (delay < 0) throw sb::ConfigError("config.delay_ms must be >= 0");
    c.delay_ms = static_cast<uint64_t>(delay);
    return c;
  }

  static sb::Result access(sb::Ctx& ctx, const Config& cfg) {
    auto value = ctx.request().header(cfg.header);
    if (!value) return ctx.response().exit_message(403, "missing header " + cfg.header);
    if (cfg.delay_ms == 0) return sb::Result::Continue;
    std::string seen(*value);  // views die with the hook: copy what the callback needs
    return ctx
        .timer(cfg.delay_ms,
               [seen](sb::Ctx* c, sb::Status st) {
                 if (!c) return;  // the request is gone: nothing to do
                 if (!st) {
                   c->log().err("timer failed: ", st.name());
                   c->resume(sb::Result::Error);
                   return;
                 }
                 c->service_request().set_header("X-Hello-Delayed", seen);
                 c->resume(sb::Result::Continue);
               })
        .pending();
  }

  static sb::Result header_filter(sb::Ctx& ctx, const Config& cfg) {
    return ctx.response().set_header(cfg.response_header, cfg.response_value) ? sb::Result::Continue
                                                                              : sb::Result::Error;
  }

  static void log(sb::Ctx& ctx, const Config&) {
    ctx.log().info("served ", ctx.request().method(), " ", ctx.request().path(), " -> ",
                   ctx.response().status());
  }
};

}  // namespace

SB_PLUGIN(HelloCpp, "hello-cpp", "1.0.0", 900, kSchema, nullptr)
