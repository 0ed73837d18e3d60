// Kong's generated error responses: message texts and content negotiation (kong-compat.md §3.5,
// §3.6, Kong 3.5+ shape with request_id).
#pragma once

#include <string>
#include <string_view>

namespace sb::proxy {

enum class ErrorSource {
  // kong.response.error: format from Accept only; JSON when absent or unknown.
  kong,
  // nginx's error handler (502, 504, 400...): Accept, else the request Content-Type, else
  // error_default_type (text/plain).
  nginx,
};

struct ErrorBody {
  std::string_view content_type;
  std::string body;
};

// Kong's default message for a status ("no Route matched..." is passed explicitly).
std::string_view default_error_message(int status);

ErrorBody render_error(int status, std::string_view message, std::string_view accept,
                       std::string_view request_content_type, ErrorSource source,
                       std::string_view request_id);

}  // namespace sb::proxy
