// The Admin API, Kong's DB-less shapes (kong-compat.md §7): read endpoints for every entity with
// Kong's pagination envelope, writes refused with Kong's DB-less messages, POST /config and
// GET /config, /status, /metrics.
//
// Routing is a table of endpoints ("/services/{service}/routes" -> method -> handler) that
// anything can add to with add(); literal path segments win over placeholders, so registration
// order does not matter ("/plugins/enabled" beats "/plugins/{plugin}").
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "admin/declarative.h"
#include "admin/json_writer.h"
#include "proxy/admin_api.h"
#include "proxy/server.h"

namespace sb::admin {

class Admin final : public sb::proxy::AdminApi {
 public:
  // One request as a handler sees it.
  struct Request {
    const sb::http::MessageHead& head;
    std::string_view path;            // without query, trailing '/' removed
    std::vector<std::string> params;  // the {placeholders} in pattern order, URL-decoded
    Params args;                      // query-string arguments
    const std::string& body;
    std::string_view arg(std::string_view name, bool* found = nullptr) const;
  };
  using Handler = std::function<void(const Request&, sb::proxy::AdminResponse&)>;

  struct Endpoint {
    std::string pattern;                                  // "/upstreams/{upstream}/targets"
    std::map<std::string, Handler, std::less<>> methods;  // "GET" (also serves HEAD), "POST"...
    // DB-less write refusals with Kong's messages (405, code 12): POST on a collection of
    // `collection_of`; PUT/PATCH/DELETE on an item of `item_of` (worded "by '<endpoint_key>'"
    // when the key in the path is not a UUID and the entity has an endpoint key).
    std::string collection_of;
    std::string item_of;
    std::string endpoint_key;
  };

  explicit Admin(sb::proxy::Server& server);
  void handle(const sb::http::MessageHead& request, const std::string& body,
              sb::proxy::AdminResponse& out) override;

  void add(Endpoint endpoint);
  const std::string& node_id() const { return node_id_; }

  // Helpers for handlers.
  static void json(sb::proxy::AdminResponse& out, int status, std::string body);
  static void message(sb::proxy::AdminResponse& out, int status, std::string_view text);

 private:
  void register_endpoints();
  void add_entity_endpoints();
  void add_health_endpoints();  // health_endpoints.cpp
  void collect_health(sb::proxy::metrics::Scrape& out) const;
  std::string status_json() const;
  std::string root_json() const;
  void post_config(const Request& r, sb::proxy::AdminResponse& out);
  void get_config(const Request& r, sb::proxy::AdminResponse& out);
  void get_metrics(const Request& r, sb::proxy::AdminResponse& out);

  sb::proxy::Server& server_;
  std::vector<Endpoint> endpoints_;
  std::vector<std::vector<std::string>> patterns_;  // endpoints_[i].pattern, split
  std::string node_id_;
  std::string hostname_;
};

}  // namespace sb::admin
