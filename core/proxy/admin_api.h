// What the proxy core needs from the Admin API: answer one fully-read request.
#pragma once

#include <string>

#include "http/message.h"

namespace sb::proxy {

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
};

class AdminApi {
 public:
  virtual void handle(const sb::http::MessageHead& request, const std::string& body,
                      AdminResponse& out) = 0;

 protected:
  ~AdminApi() = default;
};

}  // namespace sb::proxy
