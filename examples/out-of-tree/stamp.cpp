// stamp: adds `<header>: <value>` to every response, and the node's hostname when asked.
#include <silverback/plugin.hpp>

#include <string>

namespace {

constexpr const char* kSchema = R"({"name": "stamp", "fields": [{"config": {"type": "record",
  "fields": [{"header": {"type": "string", "default": "X-Stamp"}},
             {"value": {"type": "string", "required": true}},
             {"with_hostname": {"type": "boolean", "default": false}}]}}]})";

struct Stamp {
  struct Config {
    std::string header, value;
    bool with_hostname;
  };
  static Config compile(const sb::Value& conf) {
    return {conf["header"].string(), conf["value"].string(), conf["with_hostname"].boolean()};
  }
  static sb::Result header_filter(sb::Ctx& ctx, const Config& cfg) {
    std::string value = cfg.value;
    if (cfg.with_hostname) value.append("@").append(ctx.node().hostname());
    return ctx.response().set_header(cfg.header, value) ? sb::Result::Continue : sb::Result::Error;
  }
};

}  // namespace

SB_PLUGIN(Stamp, "stamp", "1.0.0", 5, kSchema, nullptr)
