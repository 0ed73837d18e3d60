// The C++ plugin layer (silverback/plugin.hpp) and the fake host (silverback/testing.hpp):
// hook detection, trampolines, async boxing, typed ctx data, the phase table, view poisoning,
// contract violations, JSON and schema helpers.
#include <gtest/gtest.h>
#include <silverback/testing.hpp>

#include <cctype>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using sb::testing::FakeRequest;
using sb::testing::FakeResponse;
using sb::testing::Host;
using sb::testing::HostOptions;
using sb::testing::Json;
using sb::testing::Phase;

constexpr const char* kNoConfig = R"({"name": "x", "fields": []})";

// ---- JSON helpers -----------------------------------------------------------------------------

TEST(SdkJson, QuoteEscapesControlQuotesAndInvalidUtf8) {
  EXPECT_EQ(sb::json::quote("a\"b\\c\n\t\x01"), R"("a\"b\\c\n\t\u0001")");
  EXPECT_EQ(sb::json::quote("caf\xc3\xa9 \xe2\x82\xac"), "\"caf\xc3\xa9 \xe2\x82\xac\"");
  EXPECT_EQ(sb::json::quote("bad \xff end"), R"("bad \ufffd end")");
  EXPECT_EQ(sb::json::quote("\xc0\xaf"), R"("\ufffd\ufffd")");            // overlong '/'
  EXPECT_EQ(sb::json::quote("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // surrogate
  EXPECT_EQ(sb::json::message("say \"hi\""), R"({"message":"say \"hi\""})");
}

TEST(SdkJson, WriterPlacesCommasAndColons) {
  sb::json::Writer w;
  w.begin_object()
      .key("a")
      .value(1)
      .key("b")
      .begin_array()
      .value("x")
      .value(true)
      .null()
      .value(2.5)
      .end_array()
      .key("c")
      .begin_object()
      .end_object()
      .key("d")
      .raw(R"({"k":[]})")
      .end_object();
  EXPECT_EQ(w.str(), R"({"a":1,"b":["x",true,null,2.5],"c":{},"d":{"k":[]}})");
  // And the test kit's parser reads it back.
  Json j = Json::parse(w.str());
  EXPECT_EQ(j["b"][3].as_double(), 2.5);
  EXPECT_EQ(j["d"]["k"].size(), 0u);
}

TEST(SdkJson, ParserHandlesEscapesNumbersAndErrors) {
  Json j = Json::parse(R"( {"s": "\u00e9\ud83d\ude00\n", "i": -12, "n": 1e2, "z": 0.5} )");
  EXPECT_EQ(j["s"].as_string(), "\xc3\xa9\xf0\x9f\x98\x80\n");
  EXPECT_TRUE(j["i"].is_integer());
  EXPECT_EQ(j["i"].as_int(), -12);
  EXPECT_EQ(j["n"].kind(), SB_VALUE_NUMBER);
  EXPECT_EQ(j["n"].as_double(), 100.0);
  EXPECT_EQ(Json::parse(j.dump()), j);
  EXPECT_THROW(Json::parse("{\"a\":1,}"), sb::testing::JsonError);
  EXPECT_THROW(Json::parse("[1] 2"), sb::testing::JsonError);
  EXPECT_THROW(Json::parse("\"\\ud800\""), sb::testing::JsonError);
  EXPECT_THROW(Json::parse("01"), sb::testing::JsonError);
}

TEST(SdkJson, SchemaFillsDefaultsNullsAndNestedRecords) {
  Json schema = Json::parse(R"({"type": "record", "fields": [
      {"name": {"type": "string", "default": "n"}},
      {"opt": {"type": "integer"}},
      {"mode": {"type": "string", "one_of": ["a", "b"], "default": "a"}},
      {"tags": {"type": "set", "elements": {"type": "string"}}},
      {"redis": {"type": "record", "fields": [{"port": {"type": "integer", "default": 6379}}]}}
  ]})");
  std::vector<std::string> errors;
  Json in = Json::parse(R"({"tags": ["x", "y", "x"]})");
  Json out = sb::testing::schema::field(schema, &in, "config", errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(out.dump(),
            R"({"name":"n","opt":null,"mode":"a","tags":["x","y"],"redis":{"port":6379}})");
  Json bad = Json::parse(R"({"mode": "c", "opt": 1.5, "redis": {"port": "x"}})");
  sb::testing::schema::field(schema, &bad, "config", errors);
  EXPECT_EQ(errors, (std::vector<std::string>{"config.opt: expected an integer",
                                              "config.mode: expected one of: 'a', 'b'",
                                              "config.redis.port: expected an integer"}));
}

// ---- Hook detection and trampolines ----------------------------------------------------------

struct Minimal {
  struct Config {};
  static Config compile(const sb::Value&) { return {}; }
};

struct Everything {
  struct State {
    int compiled = 0;
    std::vector<size_t> configured;
    int workers = 0;
  };
  struct Config {
    int64_t n;
    bool body;
  };
  static Config compile(const sb::Value& conf, State& s) {
    ++s.compiled;
    return {conf["n"].integer(), conf["body"].boolean()};
  }
  static uint32_t flags(const Config& c) { return c.body ? SB_CFG_READS_REQUEST_BODY : 0; }
  static void init_worker(sb::WorkerCtx& w) { ++w.state<Everything>().workers; }
  static void configure(std::span<const Config* const> cfgs) {
    for (const Config* c : cfgs) (void)c->n;
    configured_count = cfgs.size();
  }
  static sb::Result certificate(sb::Ctx&, const Config&) { return sb::Result::Continue; }
  static sb::Result rewrite(sb::Ctx&, const Config&) { return sb::Result::Continue; }
  static sb::Result access(sb::Ctx& ctx, const Config&) {
    auto body = ctx.request().body();
    ctx.service_request().set_header("x-body", body ? *body : "<none>");
    return sb::Result::Continue;
  }
  static sb::Result response(sb::Ctx&, const Config&) { return sb::Result::Continue; }
  static sb::Result header_filter(sb::Ctx&, const Config&) { return sb::Result::Continue; }
  static sb::Result body_filter(sb::Ctx&, const Config&, std::span<const sb_str>, bool) {
    return sb::Result::Continue;
  }
  static void log(sb::Ctx&, const Config&) {}
  static inline size_t configured_count = 0;
};

constexpr const char* kEverythingSchema = R"({"name": "everything", "fields": [{"config":
  {"type": "record", "fields": [{"n": {"type": "integer", "default": 1}},
                                {"body": {"type": "boolean", "default": false}}]}}]})";

TEST(SdkLayer, OnlyImplementedPhasesGetHooks) {
  constexpr sb_plugin_def min = sb::plugin_def<Minimal>("minimal", "1.0.0", 5, kNoConfig);
  EXPECT_EQ(min.abi_major, 1u);
  EXPECT_EQ(min.abi_minor, static_cast<uint32_t>(SB_ABI_MINOR));
  EXPECT_EQ(min.min_host_minor, 0u);
  EXPECT_EQ(min.struct_size, sizeof(sb_plugin_def));
  const sb_plugin_hooks& h = *min.hooks;
  EXPECT_NE(h.on_init, nullptr);
  EXPECT_NE(h.on_config_compile, nullptr);
  EXPECT_NE(h.on_config_free, nullptr);
  EXPECT_EQ(h.on_init_worker, nullptr);
  EXPECT_EQ(h.on_configure, nullptr);
  EXPECT_EQ(h.on_certificate, nullptr);
  EXPECT_EQ(h.on_rewrite, nullptr);
  EXPECT_EQ(h.on_access, nullptr);
  EXPECT_EQ(h.on_response, nullptr);
  EXPECT_EQ(h.on_header_filter, nullptr);
  EXPECT_EQ(h.on_body_filter, nullptr);
  EXPECT_EQ(h.on_log, nullptr);

  constexpr sb_plugin_def all = sb::plugin_def<Everything>("everything", "1", 5, kEverythingSchema);
  const sb_plugin_hooks& a = *all.hooks;
  for (const void* p :
       {(const void*)a.on_init_worker, (const void*)a.on_configure, (const void*)a.on_certificate,
        (const void*)a.on_rewrite, (const void*)a.on_access, (const void*)a.on_response,
        (const void*)a.on_header_filter, (const void*)a.on_body_filter, (const void*)a.on_log})
    EXPECT_NE(p, nullptr);
}

TEST(SdkLayer, StateFlagsConfigureAndInitWorker) {
  Host host;
  static constexpr sb_plugin_def def =
      sb::plugin_def<Everything>("everything", "1", 5, kEverythingSchema);
  auto plugin = host.load(def);
  auto* state = static_cast<sb::detail::PluginState<Everything>*>(plugin.state());
  auto with_body = plugin.compile(R"({"body": true})");
  auto without = plugin.compile("{}");
  EXPECT_EQ(state->user->compiled, 2);
  EXPECT_EQ(with_body.flags(), SB_CFG_READS_REQUEST_BODY);
  EXPECT_EQ(without.flags(), 0u);
  plugin.configure({with_body, without});
  EXPECT_EQ(Everything::configured_count, 2u);
  EXPECT_EQ(plugin.init_worker(), SB_OK);
  EXPECT_EQ(state->user->workers, 1);

  FakeRequest in;
  in.body = "payload";
  auto r1 = host.request(in, {with_body});
  r1.access();
  EXPECT_EQ(r1.upstream_header("x-body"), "payload");
  auto r2 = host.request(in, {without});  // no config asked for the body: SB_E_UNSUPPORTED
  r2.access();
  EXPECT_EQ(r2.upstream_header("x-body"), "<none>");
}

struct Thrower {
  struct Config {
    std::string mode;
  };
  static Config compile(const sb::Value& conf) {
    if (conf["mode"].str() == "reject") throw sb::ConfigError("mode 'reject' is not allowed");
    if (conf["mode"].str() == "boom") throw 42;
    return {conf["mode"].string()};
  }
  static sb::Result access(sb::Ctx&, const Config& c) {
    if (c.mode == "throw") throw std::runtime_error("access exploded");
    return sb::Result::Continue;
  }
  static sb::Result header_filter(sb::Ctx& ctx, const Config& c) {
    if (c.mode == "bad-result") return static_cast<sb::Result>(77);
    ctx.response().set_header("x-thrower", "ok");
    return sb::Result::Continue;
  }
};
constexpr const char* kModeSchema = R"({"name": "thrower", "fields": [{"config": {"type":
  "record", "fields": [{"mode": {"type": "string", "default": "ok"}}]}}]})";

TEST(SdkLayer, ExceptionsBecomeErrorsAndRejectedConfigs) {
  HostOptions opt;
  Host host(opt);
  static constexpr sb_plugin_def def = sb::plugin_def<Thrower>("thrower", "1", 5, kModeSchema);
  auto plugin = host.load(def);
  EXPECT_EQ(plugin.compile_error(R"({"mode": "reject"})"), "mode 'reject' is not allowed");
  EXPECT_EQ(plugin.compile_error(R"({"mode": "boom"})"),
            "config compile failed (unknown exception)");

  auto cfg = plugin.compile(R"({"mode": "throw"})");
  auto req = host.request({}, {cfg});
  EXPECT_EQ(req.run(), SB_ERROR);
  EXPECT_EQ(req.status(), 500);
  EXPECT_EQ(req.source(), "error");
  EXPECT_EQ(Json::parse(req.body())["message"].as_string(), "An unexpected error occurred");
  EXPECT_TRUE(host.logged("access failed: access exploded"));
  EXPECT_EQ(req.response_header("x-thrower"), "ok");  // later phases run as for an exit
  EXPECT_TRUE(host.violations().empty());
}

TEST(SdkLayer, UnknownResultIsAnErrorNotAnExit) {
  Host host;
  static constexpr sb_plugin_def def = sb::plugin_def<Thrower>("thrower", "1", 5, kModeSchema);
  auto plugin = host.load(def);
  auto cfg = plugin.compile(R"({"mode": "bad-result"})");
  auto req = host.request({}, {cfg});
  // The trampoline maps an out-of-range sb::Result to SB_ERROR before the host sees it.
  EXPECT_EQ(req.run(), SB_ERROR);
  EXPECT_EQ(req.status(), 500);
  EXPECT_TRUE(host.violations().empty());
}

// Async: http_call boxes the lambda; the box (and its captures) is freed exactly once.
struct Caller {
  struct Config {
    std::string url;
  };
  static Config compile(const sb::Value& conf) { return {conf["url"].string()}; }
  static inline std::weak_ptr<int> last_capture;
  static inline int callbacks = 0;
  static inline bool saw_null_ctx = false;
  static sb::Result access(sb::Ctx& ctx, const Config& cfg) {
    auto token = std::make_shared<int>(7);
    last_capture = token;
    sb::HttpRequest rq{.method = "POST",
                       .url = cfg.url,
                       .headers = {{"content-type", "text/plain"}},
                       .body = "ping",
                       .timeout_ms = 500};
    return ctx
        .http_call(rq,
                   [token](sb::Ctx* c, sb::Status st, const sb::HttpResponse& r) {
                     ++callbacks;
                     if (!c) {
                       saw_null_ctx = true;
                       return;
                     }
                     if (!st || r.status() != 200) {
                       c->resume(c->response().exit_message(502, "auth server said no"));
                       return;
                     }
                     c->service_request().set_header("x-auth", r.header("x-user").value_or("?"));
                     c->service_request().set_header("x-auth-body", r.body());
                     c->resume(sb::Result::Continue);
                   })
        .pending();
  }
};
constexpr const char* kUrlSchema = R"({"name": "caller", "fields": [{"config": {"type":
  "record", "fields": [{"url": {"type": "string", "default": "http://auth.local/check"}}]}}]})";

TEST(SdkLayer, HttpCallCompletesOnceAndResumes) {
  Host host;
  static constexpr sb_plugin_def def = sb::plugin_def<Caller>("caller", "1", 5, kUrlSchema);
  auto plugin = host.load(def);
  auto cfg = plugin.compile("{}");
  Caller::callbacks = 0;
  auto req = host.request({}, {cfg});
  EXPECT_EQ(req.access(), SB_PENDING);
  auto calls = host.http_calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "POST");
  EXPECT_EQ(calls[0].url, "http://auth.local/check");
  EXPECT_EQ(calls[0].body, "ping");
  EXPECT_EQ(calls[0].timeout_ms, 500u);
  EXPECT_FALSE(Caller::last_capture.expired());
  EXPECT_TRUE(host.complete_http(calls[0].id, FakeResponse{200, {{"X-User", "alice"}}, "yes", {}}));
  EXPECT_FALSE(host.complete_http(calls[0].id, FakeResponse{}));  // exactly once
  EXPECT_EQ(Caller::callbacks, 1);
  EXPECT_TRUE(Caller::last_capture.expired());  // box and captures freed
  EXPECT_TRUE(req.proxied());
  EXPECT_EQ(req.upstream_header("x-auth"), "alice");
  EXPECT_EQ(req.upstream_header("x-auth-body"), "yes");
  EXPECT_EQ(req.run(), SB_CONTINUE);
}

TEST(SdkLayer, FailedHttpCallExitsFromTheCompletion) {
  Host host;
  static constexpr sb_plugin_def def = sb::plugin_def<Caller>("caller", "1", 5, kUrlSchema);
  auto cfg = host.load(def).compile("{}");
  auto req = host.request({}, {cfg});
  EXPECT_EQ(req.run(), SB_PENDING);
  EXPECT_TRUE(host.fail_http(host.http_calls().at(0).id, SB_E_TIMEOUT));
  EXPECT_EQ(req.run(), SB_EXITED);
  EXPECT_EQ(req.status(), 502);
  EXPECT_EQ(req.body(), R"({"message":"auth server said no"})");
  EXPECT_TRUE(Caller::last_capture.expired());
}

TEST(SdkLayer, RequestGoneCompletesWithNullCtxAndFreesTheBox) {
  Host host;
  static constexpr sb_plugin_def def = sb::plugin_def<Caller>("caller", "1", 5, kUrlSchema);
  auto cfg = host.load(def).compile("{}");
  Caller::saw_null_ctx = false;
  Caller::callbacks = 0;
  {
    auto req = host.request({}, {cfg});
    EXPECT_EQ(req.run(), SB_PENDING);
    req.expire_pending();  // pending timeout: ops complete with NULL ctx, the request fails
    EXPECT_EQ(req.status(), 500);
    EXPECT_TRUE(req.done());
  }
  EXPECT_EQ(Caller::callbacks, 1);
  EXPECT_TRUE(Caller::saw_null_ctx);
  EXPECT_TRUE(Caller::last_capture.expired());
  EXPECT_EQ(host.pending_ops(), 0u);
}

// Typed per-request data, destroyed by the host after the log phase.
struct Counter {
  static inline int destroyed = 0;
  int n = 0;
  explicit Counter(int v) : n(v) {}
  ~Counter() { ++destroyed; }
};
struct DataUser {
  struct Config {};
  static Config compile(const sb::Value&) { return {}; }
  static sb::Result access(sb::Ctx& ctx, const Config&) {
    ctx.ctx_plugin().emplace<Counter>(1);
    ctx.ctx_plugin().emplace<Counter>(2);  // replaces (and destroys) the first
    ctx.ctx_shared().set("who", "data-user");
    return sb::Result::Continue;
  }
  static sb::Result header_filter(sb::Ctx& ctx, const Config&) {
    Counter* c = ctx.ctx_plugin().get<Counter>();
    ctx.response().set_header("x-n", c ? std::to_string(c->n) : "none");
    ctx.response().set_header("x-wrong-type", ctx.ctx_plugin().get<std::string>() ? "yes" : "no");
    return sb::Result::Continue;
  }
};

TEST(SdkLayer, PluginDataIsTypedAndDestroyedAfterLog) {
  Host host;
  static constexpr sb_plugin_def def = sb::plugin_def<DataUser>("data-user", "1", 5, kNoConfig);
  auto cfg = host.load(def).compile("{}");
  Counter::destroyed = 0;
  auto req = host.request({}, {cfg});
  req.header_filter();
  EXPECT_EQ(Counter::destroyed, 1);
  EXPECT_EQ(req.response_header("x-n"), "2");
  EXPECT_EQ(req.response_header("x-wrong-type"), "no");
  EXPECT_EQ(req.shared("who"), "data-user");
  req.run();
  EXPECT_EQ(Counter::destroyed, 2);
}

TEST(SdkLayer, HostHasAndOldHosts) {
  {
    Host host;
    auto p = host.load(sb::plugin_def<Minimal>("minimal", "1", 1, kNoConfig));
    EXPECT_TRUE(SB_HOST_HAS(resume));
    EXPECT_TRUE(SB_HOST_HAS(log_msg));
  }
  // A host whose table stops before a 1.0 slot is refused by the SB_PLUGIN entry.
  HostOptions opt;
  opt.api_size = offsetof(sb_host_api, resume);
  Host old(opt);
  static constexpr sb_plugin_def def = sb::plugin_def<Minimal>("minimal", "1", 1, kNoConfig);
  EXPECT_FALSE(sb::detail::accept_host(old.info(), def));
  EXPECT_TRUE(sb::detail::accept_host(nullptr, def));  // tooling
}

TEST(SdkLayer, ValueWrapsConfigTrees) {
  struct Probe {
    struct Config {
      std::vector<std::string> names;
      std::vector<std::string> keys;
      double ratio;
      bool flag;
      bool missing_present;
    };
    static Config compile(const sb::Value& v) {
      Config c{v["names"].strings(),
               {},
               v["ratio"].number(),
               v["flag"].boolean(),
               static_cast<bool>(v["nope"])};
      for (auto m : v["headers"].members())
        c.keys.push_back(std::string(m.key) + "=" + m.value.string());
      if (v["names"].kind() != sb::Value::Kind::Array || v["names"].size() != 2)
        throw sb::ConfigError("names");
      return c;
    }
  };
  Host host;
  static constexpr sb_plugin_def def = sb::plugin_def<Probe>("probe", "1", 1, kNoConfig);
  auto cfg = host.load(def).compile(
      R"({"names": ["a", "b"], "ratio": 0.25, "flag": true, "headers": {"x": "1", "y": "2"}})",
      /*validate=*/false);
  auto* box = static_cast<const sb::detail::ConfigBox<Probe>*>(cfg.raw());
  EXPECT_EQ(box->config.names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(box->config.keys, (std::vector<std::string>{"x=1", "y=2"}));
  EXPECT_EQ(box->config.ratio, 0.25);
  EXPECT_TRUE(box->config.flag);
  EXPECT_FALSE(box->config.missing_present);
}

// ---- The fake host's contract checks ------------------------------------------------------------

sb::testing::Config MinimalConfig(Host& host) {
  static constexpr sb_plugin_def def = sb::plugin_def<Minimal>("minimal", "1", 1, kNoConfig);
  return host.load(def).compile("{}");
}

TEST(SdkFakeHost, PhaseTableFromPluginH) {
  Host host;
  auto cfg = MinimalConfig(host);
  auto req = host.request({}, {cfg});
  const sb_host_api* api = host.api();
  auto in = [&](Phase p, auto fn) { return req.in_phase(p, fn); };
  sb_str v{};
  // Upstream request headers: rewrite and access only.
  EXPECT_EQ(in(Phase::Access,
               [&](sb_ctx* c) {
                 return api->hdr_set(c, SB_HDR_UPSTREAM_REQUEST, sb::str("a"), sb::str("1"));
               }),
            SB_OK);
  EXPECT_EQ(in(Phase::HeaderFilter,
               [&](sb_ctx* c) {
                 return api->hdr_set(c, SB_HDR_UPSTREAM_REQUEST, sb::str("a"), sb::str("1"));
               }),
            SB_E_WRONG_PHASE);
  // Response headers: writable through header_filter, read-only in body_filter and log.
  EXPECT_EQ(
      in(Phase::HeaderFilter,
         [&](sb_ctx* c) { return api->hdr_set(c, SB_HDR_RESPONSE, sb::str("b"), sb::str("2")); }),
      SB_OK);
  EXPECT_EQ(
      in(Phase::Log,
         [&](sb_ctx* c) { return api->hdr_set(c, SB_HDR_RESPONSE, sb::str("b"), sb::str("2")); }),
      SB_E_WRONG_PHASE);
  EXPECT_EQ(
      in(Phase::Log,
         [&](sb_ctx* c) { return api->hdr_get(c, SB_HDR_RESPONSE, sb::str("b"), 0, &v, nullptr); }),
      SB_OK);
  // The client request map is read-only; framing headers are the host's.
  EXPECT_EQ(
      in(Phase::Access,
         [&](sb_ctx* c) { return api->hdr_set(c, SB_HDR_REQUEST, sb::str("a"), sb::str("1")); }),
      SB_E_INVALID_ARG);
  EXPECT_EQ(in(Phase::Access,
               [&](sb_ctx* c) {
                 return api->hdr_set(c, SB_HDR_UPSTREAM_REQUEST, sb::str("Content-Length"),
                                     sb::str("1"));
               }),
            SB_E_INVALID_ARG);
  // Upstream response headers: not before the response exists.
  EXPECT_EQ(in(Phase::Access,
               [&](sb_ctx* c) { return api->hdr_count(c, SB_HDR_UPSTREAM_RESPONSE, nullptr); }),
            SB_E_WRONG_PHASE);
  // respond: rw acc resp hf, and only without a body in header_filter.
  EXPECT_EQ(in(Phase::Log, [&](sb_ctx* c) { return api->respond(c, 403, nullptr, 0, {}); }),
            SB_E_WRONG_PHASE);
  EXPECT_EQ(in(Phase::HeaderFilter,
               [&](sb_ctx* c) { return api->respond(c, 403, nullptr, 0, sb::str("x")); }),
            SB_E_INVALID_ARG);
  EXPECT_EQ(
      in(Phase::Access, [&](sb_ctx* c) { return api->respond_error(c, 302, {}, nullptr, 0); }),
      SB_E_INVALID_ARG);
  // Body slots.
  EXPECT_EQ(in(Phase::Access, [&](sb_ctx* c) { return api->response_body_mode(c, 1); }),
            SB_E_WRONG_PHASE);
  EXPECT_EQ(in(Phase::HeaderFilter, [&](sb_ctx* c) { return api->response_body_mode(c, 9); }),
            SB_E_INVALID_ARG);
  EXPECT_EQ(in(Phase::HeaderFilter, [&](sb_ctx* c) { return api->body_set(c, {}); }),
            SB_E_WRONG_PHASE);
  EXPECT_EQ(in(Phase::Access, [&](sb_ctx* c) { return api->response_body_get(c, &v); }),
            SB_E_WRONG_PHASE);
  EXPECT_EQ(in(Phase::Access, [&](sb_ctx* c) { return api->request_body_get(c, &v); }),
            SB_E_UNSUPPORTED);  // no config set SB_CFG_READS_REQUEST_BODY
  // Identity and routing.
  EXPECT_EQ(in(Phase::Rewrite,
               [&](sb_ctx* c) { return api->client_authenticate(c, sb::str("c"), {}, {}); }),
            SB_E_WRONG_PHASE);
  EXPECT_EQ(in(Phase::Rewrite, [&](sb_ctx* c) { return api->var_get(c, SB_VAR_ROUTE_ID, &v); }),
            SB_E_NOT_FOUND);  // not routed yet
  std::string copied;
  EXPECT_EQ(in(Phase::Access,
               [&](sb_ctx* c) {
                 sb_status st = api->var_get(c, SB_VAR_ROUTE_ID, &v);
                 copied = sb::view(v);  // views die with the hook: copy inside it
                 return st;
               }),
            SB_OK);
  EXPECT_EQ(copied, "route-1");
  EXPECT_EQ(sb::view(v), std::string(7, '\xdd'));  // ...and the fake host poisons them
  EXPECT_EQ(
      in(Phase::Access, [&](sb_ctx* c) { return api->var_get(c, SB_VAR_RESPONSE_SOURCE, &v); }),
      SB_E_WRONG_PHASE);
  EXPECT_EQ(in(Phase::Rewrite, [&](sb_ctx* c) { return api->route_capture(c, sb::str("0"), &v); }),
            SB_E_WRONG_PHASE);
  EXPECT_EQ(in(Phase::Access, [&](sb_ctx* c) { return api->log_serialize(c, &v); }),
            SB_E_WRONG_PHASE);
  EXPECT_EQ(in(Phase::Log,
               [&](sb_ctx* c) {
                 sb_status st = api->log_serialize(c, &v);
                 copied = sb::view(v);
                 return st;
               }),
            SB_OK);
  EXPECT_EQ(Json::parse(copied)["request"]["method"].as_string(), "GET");
  // Writable facts: only the upstream ones, in rewrite/access.
  EXPECT_EQ(
      in(Phase::Access, [&](sb_ctx* c) { return api->var_set(c, SB_VAR_METHOD, sb::str("POST")); }),
      SB_E_INVALID_ARG);
  EXPECT_EQ(in(Phase::Access,
               [&](sb_ctx* c) { return api->var_set(c, SB_VAR_UPSTREAM_PATH, sb::str("x")); }),
            SB_E_INVALID_ARG);  // must start with '/'
  EXPECT_EQ(in(Phase::Log,
               [&](sb_ctx* c) { return api->var_set(c, SB_VAR_UPSTREAM_PATH, sb::str("/x")); }),
            SB_E_WRONG_PHASE);
  EXPECT_EQ(in(Phase::BodyFilter,
               [&](sb_ctx* c) { return api->num_set(c, SB_NUM_RESPONSE_STATUS, 201); }),
            SB_E_WRONG_PHASE);
  // Async: refused in the filters and log.
  sb_timer_cb noop = [](sb_ctx*, void*, sb_status) {};
  EXPECT_EQ(
      in(Phase::Log, [&](sb_ctx* c) { return api->timer_start(c, 1, noop, nullptr, nullptr); }),
      SB_E_WRONG_PHASE);
  EXPECT_EQ(in(Phase::HeaderFilter,
               [&](sb_ctx* c) { return api->timer_start(c, 1, noop, nullptr, nullptr); }),
            SB_E_WRONG_PHASE);
  // resume outside a completion.
  EXPECT_EQ(in(Phase::Access, [&](sb_ctx* c) { return api->resume(c, SB_CONTINUE); }), SB_E_STATE);
  EXPECT_TRUE(host.violations().empty());
}

struct Worker {
  struct Config {};
  static Config compile(const sb::Value&) { return {}; }
  static inline sb_status header_status = SB_OK;
  static inline int ticks = 0;
  static void init_worker(sb::WorkerCtx& w) {
    header_status = w.api()->hdr_count(w.raw(), SB_HDR_REQUEST, nullptr);
    w.timer(100, [](sb::WorkerCtx* w, sb::Status st) {
      if (w && st) {
        ++ticks;
        w->log().info("tick on ", w->node().hostname());
      }
    });
  }
};

TEST(SdkFakeHost, WorkerCtxAllowsOnlyWorkerSlots) {
  Host host;
  static constexpr sb_plugin_def def = sb::plugin_def<Worker>("worker", "1", 1, kNoConfig);
  auto plugin = host.load(def);
  EXPECT_EQ(plugin.init_worker(), SB_OK);
  EXPECT_EQ(Worker::header_status, SB_E_WRONG_PHASE);
  EXPECT_EQ(host.pending_timers(), 1u);
  EXPECT_TRUE(host.fire_next_timer());
  EXPECT_EQ(Worker::ticks, 1);
  EXPECT_EQ(host.now_ms(), HostOptions{}.start_ms + 100);
  EXPECT_TRUE(host.logged("tick on fake-node"));
  EXPECT_EQ(host.logs().back().plugin, "worker");
}

TEST(SdkFakeHost, WrongThreadAndDeadCtx) {
  HostOptions opt;
  opt.fail_on_violation = false;
  Host host(opt);
  auto cfg = MinimalConfig(host);
  auto req = host.request({}, {cfg});
  const sb_host_api* api = host.api();
  sb_status from_thread = SB_OK;
  req.in_phase(Phase::Access, [&](sb_ctx* c) {
    std::thread t([&] { from_thread = api->shared_set(c, sb::str("k"), sb::str("v")); });
    t.join();
    return 0;
  });
  EXPECT_EQ(from_thread, SB_E_WRONG_THREAD);
  // A ctx kept past its hook.
  sb_ctx* kept = req.ctx();
  EXPECT_EQ(api->shared_set(kept, sb::str("k"), sb::str("v")), SB_E_STATE);
  req.run();
  EXPECT_EQ(api->shared_set(kept, sb::str("k"), sb::str("v")), SB_E_INVALID_ARG);
  EXPECT_EQ(host.violations().size(), 2u);
}

// A plugin that keeps a view across hooks reads poisoned bytes in its tests.
struct ViewKeeper {
  struct Config {};
  static Config compile(const sb::Value&) { return {}; }
  static inline std::string_view kept;
  static sb::Result access(sb::Ctx& ctx, const Config&) {
    kept = ctx.request().header("x-token").value_or("");
    auto before = ctx.request().header("x-token");
    ctx.service_request().set_header("x-token", "changed");  // invalidates views into the map
    ctx.service_request().set_header("x-seen-before", std::string(before.value_or("")));
    return sb::Result::Continue;
  }
  static sb::Result header_filter(sb::Ctx& ctx, const Config&) {
    ctx.response().set_header("x-kept", std::string(kept.size(), '.') == kept ? "dots" : "other");
    ctx.response().set_header("x-kept-poisoned",
                              kept == std::string(kept.size(), '\xdd') ? "yes" : "no");
    return sb::Result::Continue;
  }
};

TEST(SdkFakeHost, ViewsArePoisonedWhenTheyDie) {
  Host host;
  static constexpr sb_plugin_def def = sb::plugin_def<ViewKeeper>("keeper", "1", 1, kNoConfig);
  auto cfg = host.load(def).compile("{}");
  FakeRequest in;
  in.headers = {{"x-token", "secret"}};
  auto req = host.request(in, {cfg});
  req.run();
  EXPECT_EQ(req.upstream_header("x-token"), "changed");
  EXPECT_EQ(req.response_header("x-kept-poisoned"), "yes");
}

// Hand-written C hooks that break the contract.
const sb_host_api* g_api = nullptr;
std::string g_mode;
sb_status RawInit(const sb_host_info* h, void** state, sb_errbuf) {
  g_api = h->api;
  *state = nullptr;
  return SB_OK;
}
sb_status RawCompile(void*, const sb_value* conf, void** cfg, uint32_t* flags, sb_errbuf) {
  *cfg = const_cast<char*>(g_api->value_str(g_api->value_get(conf, sb::str("mode"))).ptr);
  *flags = 0;
  return SB_OK;
}
std::string Mode(const void* cfg) {
  // RawCompile stored a pointer into the config tree, which dies after compile: use a copy kept
  // by the test instead.
  (void)cfg;
  return g_mode;
}
sb_result RawAccess(sb_ctx* ctx, const void* cfg) {
  std::string mode = Mode(cfg);
  if (mode == "exited-without-respond") return SB_EXITED;
  if (mode == "respond-then-continue") {
    g_api->respond(ctx, 418, nullptr, 0, sb::str("teapot"));
    return SB_CONTINUE;
  }
  if (mode == "pending-without-op") return SB_PENDING;
  if (mode == "unknown") return 99;
  return SB_CONTINUE;
}
sb_result RawHeaderFilter(sb_ctx*, const void*) {
  return g_mode == "pending-in-hf" ? SB_PENDING : SB_CONTINUE;
}
sb_result RawBodyFilter(sb_ctx* ctx, const void*, const sb_str* chunk, size_t n, int32_t eos) {
  if (g_mode != "grow-body") return SB_CONTINUE;
  std::string out;
  for (size_t i = 0; i < n; ++i) out += sb::view(chunk[i]);
  if (eos) out += "!";
  g_api->body_set(ctx, sb::str(out));
  return SB_CONTINUE;
}
constexpr sb_plugin_hooks kRawHooks = {sizeof(sb_plugin_hooks),
                                       0,
                                       RawInit,
                                       nullptr,
                                       nullptr,
                                       RawCompile,
                                       nullptr,
                                       nullptr,
                                       nullptr,
                                       nullptr,
                                       RawAccess,
                                       nullptr,
                                       RawHeaderFilter,
                                       RawBodyFilter,
                                       nullptr};
constexpr sb_plugin_def kRawDef = {
    sizeof(sb_plugin_def), 1, 0, 0, "raw", "1", 1, 0, kNoConfig, nullptr, &kRawHooks};

sb_result RunRaw(const std::string& mode, std::vector<std::string>* violations, int* status) {
  g_mode = mode;
  HostOptions opt;
  opt.fail_on_violation = false;
  Host host(opt);
  auto cfg = host.load(kRawDef).compile(R"({"mode": "x"})", false);
  FakeRequest in;
  in.upstream.headers = {{"Content-Length", "4"}};
  in.upstream.body = "body";
  auto req = host.request(in, {cfg});
  sb_result r = req.run();
  *violations = host.violations();
  *status = req.status();
  return r;
}

TEST(SdkFakeHost, ContractViolationsAreCaught) {
  std::vector<std::string> v;
  int status = 0;
  EXPECT_EQ(RunRaw("ok", &v, &status), SB_CONTINUE);
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(status, 200);
  for (const char* mode :
       {"exited-without-respond", "respond-then-continue", "pending-without-op", "unknown"}) {
    SCOPED_TRACE(mode);
    EXPECT_EQ(RunRaw(mode, &v, &status), SB_ERROR);
    EXPECT_EQ(v.size(), 1u);
    EXPECT_EQ(status, 500);
  }
  RunRaw("pending-in-hf", &v, &status);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NE(v[0].find("header_filter"), std::string::npos);
  RunRaw("grow-body", &v, &status);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NE(v[0].find("SB_BODY_RESIZE"), std::string::npos);
}

TEST(SdkFakeHost, LoaderRefusesWhatTheRealLoaderRefuses) {
  Host host;
  sb_plugin_def newer = kRawDef;
  newer.abi_minor = 1;
  newer.min_host_minor = 1;
  auto err = host.load_error([] { return sb_plugin_entry_fn(nullptr); }());
  EXPECT_TRUE(err);
  sb_plugin_def bad_name = kRawDef;
  bad_name.name = "Bad_Name";
  sb_plugin_def major2 = kRawDef;
  major2.abi_major = 2;
  EXPECT_THROW(host.load(newer), std::runtime_error);
  try {
    host.load(newer);
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "plugin needs Silverback ABI >= 1.1, host is 1.0");
  }
  EXPECT_THROW(host.load(bad_name), std::runtime_error);
  EXPECT_THROW(host.load(major2), std::runtime_error);
  EXPECT_THROW(host.load_library("/nonexistent/plugin.so"), std::runtime_error);
}

// Body filters: chunks, buffering, resizing.
struct Upper {
  struct Config {
    std::string mode;
  };
  static Config compile(const sb::Value& v) { return {v["mode"].string()}; }
  static sb::Result header_filter(sb::Ctx& ctx, const Config& c) {
    if (c.mode == "buffer") ctx.response().body_mode(sb::BodyMode::Buffer);
    if (c.mode == "resize") ctx.response().body_mode(sb::BodyMode::Resize);
    return sb::Result::Continue;
  }
  static sb::Result body_filter(sb::Ctx& ctx, const Config& c, std::span<const sb_str> chunk,
                                bool eos) {
    std::string s = sb::join(chunk);
    for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (c.mode == "resize" && eos) s += "<END>";
    if (c.mode == "buffer") s = "[" + s + "]";
    ctx.response().set_body(s);
    return sb::Result::Continue;
  }
};

TEST(SdkFakeHost, BodyFilterModes) {
  Host host;
  static constexpr sb_plugin_def def = sb::plugin_def<Upper>("upper", "1", 1, kModeSchema);
  auto plugin = host.load(def);
  FakeRequest in;
  in.upstream.headers = {{"Content-Length", "6"}};
  in.upstream.chunks = {"ab", "cd", "ef"};
  {
    auto req = host.request(in, {plugin.compile(R"({"mode": "stream"})", false)});
    req.run();
    EXPECT_EQ(req.body_chunks(), (std::vector<std::string>{"AB", "CD", "EF"}));
    EXPECT_EQ(req.response_header("content-length"), "6");
  }
  {
    auto req = host.request(in, {plugin.compile(R"({"mode": "buffer"})", false)});
    req.run();
    EXPECT_EQ(req.body_chunks(), (std::vector<std::string>{"[ABCDEF]"}));
    EXPECT_FALSE(req.response_header("content-length"));
  }
  {
    auto req = host.request(in, {plugin.compile(R"({"mode": "resize"})", false)});
    req.run();
    EXPECT_EQ(req.body(), "ABCDEF<END>");
    EXPECT_FALSE(req.response_header("content-length"));
  }
  EXPECT_TRUE(host.violations().empty());
}

// Identity: consumers, plugin entities by cache_key, authenticate.
struct Auth {
  struct Config {};
  static Config compile(const sb::Value&) { return {}; }
  static sb::Result access(sb::Ctx& ctx, const Config&) {
    auto key = ctx.request().query_arg("apikey");
    if (!key) return ctx.response().error(401);
    sb::Value cred = ctx.find_entity("demo_keys", "cache_key", *key);
    if (!cred) return ctx.response().error(401, "Invalid authentication credentials");
    std::string consumer(cred["consumer"]["id"].str());
    if (!ctx.client().authenticate(consumer, "demo_keys", cred["id"].str()))
      return sb::Result::Error;
    ctx.service_request().set_header("x-consumer-username",
                                     ctx.client().consumer()["username"].str());
    return sb::Result::Continue;
  }
  static sb::Result header_filter(sb::Ctx& ctx, const Config&) {
    ctx.response().set_header("x-credential", ctx.client().credential()["id"].str());
    return sb::Result::Continue;
  }
};
constexpr const char* kDemoKeys = R"([{"name": "demo_keys", "primary_key": ["id"],
  "cache_key": ["key"], "fields": [{"id": {"type": "string"}},
  {"consumer": {"type": "foreign", "reference": "consumers"}},
  {"key": {"type": "string", "unique": true}}]}])";

TEST(SdkFakeHost, EntitiesAndAuthentication) {
  Host host;
  static constexpr sb_plugin_def def =
      sb::plugin_def<Auth>("demo-auth", "1", 1250, kNoConfig, kDemoKeys);
  auto cfg = host.load(def).compile("{}");
  host.add_entities(R"({"consumers": [{"id": "c1", "username": "alice", "custom_id": null}],
                        "demo_keys": [{"id": "k1", "key": "s3cret", "consumer": {"id": "c1"}}]})");
  FakeRequest in;
  in.query = "apikey=s3cr%65t&x=1";
  auto ok = host.request(in, {cfg});
  EXPECT_EQ(ok.run(), SB_CONTINUE);
  EXPECT_EQ(ok.consumer_id(), "c1");
  EXPECT_EQ(ok.credential_id(), "k1");
  EXPECT_EQ(ok.upstream_header("x-consumer-username"), "alice");
  EXPECT_EQ(ok.response_header("x-credential"), "k1");

  in.query = "apikey=wrong";
  in.headers = {{"Accept", "text/plain"}};
  auto bad = host.request(in, {cfg});
  EXPECT_EQ(bad.run(), SB_EXITED);
  EXPECT_EQ(bad.status(), 401);
  EXPECT_EQ(bad.response_header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(bad.body().substr(0, 35), "Invalid authentication credentials\n");

  in.query = "";
  in.headers = {};
  auto none = host.request(in, {cfg});
  EXPECT_EQ(none.run(), SB_EXITED);
  EXPECT_EQ(Json::parse(none.body())["message"].as_string(), "Unauthorized");

  // Look-ups only by indexed fields.
  auto req = host.request({}, {cfg});
  const sb_value* row = nullptr;
  EXPECT_EQ(req.in_phase(Phase::Access,
                         [&](sb_ctx* c) {
                           return host.api()->entity_find(c, sb::str("consumers"),
                                                          sb::str("username"), sb::str("alice"),
                                                          &row);
                         }),
            SB_OK);
  EXPECT_EQ(req.in_phase(Phase::Access,
                         [&](sb_ctx* c) {
                           return host.api()->entity_find(c, sb::str("demo_keys"),
                                                          sb::str("consumer"), sb::str("c1"), &row);
                         }),
            SB_E_INVALID_ARG);
  EXPECT_EQ(req.in_phase(Phase::Access,
                         [&](sb_ctx* c) {
                           return host.api()->client_authenticate(c, sb::str("nobody"), {}, {});
                         }),
            SB_E_NOT_FOUND);
}

// Several plugins: priority order, shared ctx, an access exit skips later plugins' access.
struct First {
  struct Config {};
  static Config compile(const sb::Value&) { return {}; }
  static sb::Result access(sb::Ctx& ctx, const Config&) {
    ctx.ctx_shared().set("from-first", "1");
    if (ctx.request().header("x-deny")) return ctx.response().exit(429, R"({"message":"slow"})");
    return sb::Result::Continue;
  }
  static void log(sb::Ctx& ctx, const Config&) { ctx.log().info("first log"); }
};
struct Second {
  struct Config {};
  static Config compile(const sb::Value&) { return {}; }
  static sb::Result access(sb::Ctx& ctx, const Config&) {
    ctx.service_request().set_header("x-shared", ctx.ctx_shared().get("from-first").value_or("-"));
    return sb::Result::Continue;
  }
  static void log(sb::Ctx& ctx, const Config&) { ctx.log().info("second log"); }
};

TEST(SdkFakeHost, ChainRunsByPriorityAndAnExitSkipsLaterAccess) {
  Host host;
  static constexpr sb_plugin_def first = sb::plugin_def<First>("first", "1", 2000, kNoConfig);
  static constexpr sb_plugin_def second = sb::plugin_def<Second>("second", "1", 10, kNoConfig);
  auto c2 = host.load(second).compile("{}");
  auto c1 = host.load(first).compile("{}");
  auto req = host.request({}, {c2, c1});  // added out of order
  EXPECT_EQ(req.run(), SB_CONTINUE);
  EXPECT_EQ(req.upstream_header("x-shared"), "1");
  EXPECT_EQ(req.trace(),
            (std::vector<std::string>{"first:access->CONTINUE", "second:access->CONTINUE",
                                      "first:log", "second:log"}));
  FakeRequest deny;
  deny.headers = {{"x-deny", "1"}};
  auto denied = host.request(deny, {c1, c2});
  EXPECT_EQ(denied.run(), SB_EXITED);
  EXPECT_EQ(denied.status(), 429);
  EXPECT_FALSE(denied.response_header("content-type"));  // exit() with a string: as given
  // Kong: later plugins' access is skipped but they stay collected, so their log runs.
  EXPECT_EQ(denied.trace(),
            (std::vector<std::string>{"first:access->EXITED", "first:log", "second:log"}));
}

struct Canceller {
  struct Config {};
  static Config compile(const sb::Value&) { return {}; }
  static inline std::vector<std::string> events;
  static sb::Result access(sb::Ctx& ctx, const Config&) {
    auto op = ctx.timer(1000, [](sb::Ctx* c, sb::Status st) {
      events.push_back(std::string(c ? "ctx " : "null ") + st.name());
    });
    events.push_back("started");
    ctx.cancel(op.id());
    events.push_back("cancel returned");
    return sb::Result::Continue;
  }
};

TEST(SdkFakeHost, CancelRunsTheCallbackBeforeReturning) {
  Host host;
  static constexpr sb_plugin_def def = sb::plugin_def<Canceller>("canceller", "1", 1, kNoConfig);
  auto req = host.request({}, {host.load(def).compile("{}")});
  req.run();
  EXPECT_EQ(Canceller::events,
            (std::vector<std::string>{"started", "ctx SB_E_CANCELLED", "cancel returned"}));
  EXPECT_EQ(host.pending_ops(), 0u);
}

}  // namespace
