// The Admin API (Kong's DB-less admin, JSON). This issue serves GET / and GET /status; the
// rest of the API arrives with the operations issue.
#pragma once

#include <chrono>
#include <string>

#include "proxy/admin_api.h"
#include "proxy/server.h"

namespace sb::admin {

class Admin final : public sb::proxy::AdminApi {
 public:
  explicit Admin(sb::proxy::Server& server);
  void handle(const sb::http::MessageHead& request, const std::string& body,
              sb::proxy::AdminResponse& out) override;

 private:
  std::string status_json() const;
  std::string root_json() const;
  sb::proxy::Server& server_;
  std::string node_id_;
  std::string hostname_;
};

}  // namespace sb::admin
