#include "proxy/errors.h"

#include <fmt/format.h>

#include <cstdlib>

#include "common/json.h"
#include "http/message.h"

namespace sb::proxy {
namespace {

enum class Format { json, plain, html, xml };

// Kong's get_mime_type(): exact media type (parameters cut), "type/*" by type, anything
// unknown is JSON.
Format mime_format(std::string_view media) {
  media = sb::http::trim(media.substr(0, media.find(';')));
  if (media == "text/html") return Format::html;
  if (media == "text/plain" || media == "text/*") return Format::plain;
  if (media == "application/xml") return Format::xml;
  return Format::json;
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("-!#$&^_+.").find(c) != std::string_view::npos;
}

// Kong's get_response_type(): the first entry with the highest q decides; entries that are not
// media ranges are skipped; no usable entry means JSON.
Format response_format(std::string_view accept) {
  Format format = Format::json;
  double max_quality = 0;
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view item = sb::http::trim(accept.substr(0, comma));
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    std::string_view media = sb::http::trim(item.substr(0, item.find(';')));
    size_t slash = media.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 >= media.size()) continue;
    bool valid = true;
    for (size_t i = 0; i < media.size() && valid; ++i) {
      valid = i == slash || is_token_char(media[i]) || media[i] == '*';
    }
    if (!valid) continue;
    double q = 1.0;
    for (size_t at = item.find(';'); at != std::string_view::npos; at = item.find(';', at + 1)) {
      std::string_view param = sb::http::trim(item.substr(at + 1, item.find(';', at + 1) - at - 1));
      if (param.size() > 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        q = std::strtod(std::string(param.substr(2)).c_str(), nullptr);
      }
    }
    if (q > max_quality) {
      max_quality = q;
      format = media == "*/*" ? Format::json : mime_format(media);
    }
  }
  return format;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::string_view default_error_message(int status) {
  // kong.response.error's table (Kong 3.x pdk/response.lua).
  switch (status) {
    case 400:
      return "Bad request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not found";
    case 405:
      return "Method not allowed";
    case 406:
      return "Not acceptable";
    case 407:
      return "Proxy authentication required";
    case 408:
      return "Request timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length required";
    case 412:
      return "Precondition failed";
    case 413:
      return "Payload too large";
    case 414:
      return "URI too long";
    case 415:
      return "Unsupported media type";
    case 416:
      return "Range not satisfiable";
    case 417:
      return "Expectation failed";
    case 418:
      return "I'm a teapot";
    case 421:
      return "Misdirected request";
    case 422:
      return "Unprocessable entity";
    case 423:
      return "Locked";
    case 424:
      return "Failed dependency";
    case 425:
      return "Too early";
    case 426:
      return "Upgrade required";
    case 428:
      return "Precondition required";
    case 429:
      return "Too many requests";
    case 431:
      return "Request header fields too large";
    case 451:
      return "Unavailable for legal reasons";
    case 494:
      return "Request header or cookie too large";
    case 500:
      return "An unexpected error occurred";
    case 501:
      return "Not implemented";
    case 502:
      return "An invalid response was received from the upstream server";
    case 503:
      return "The upstream server is currently unavailable";
    case 504:
      return "The upstream server is timing out";
    case 505:
      return "HTTP version not supported";
    case 506:
      return "Variant also negotiates";
    case 507:
      return "Insufficient storage";
    case 508:
      return "Loop detected";
    case 510:
      return "Not extended";
    case 511:
      return "Network authentication required";
    default:
      return {};
  }
}

namespace {
// The nginx error handler's smaller table (kong/error_handlers.lua).
std::string_view nginx_error_message(int status) {
  switch (status) {
    case 400:
    case 404:
    case 405:
    case 408:
    case 411:
    case 412:
    case 413:
    case 414:
    case 417:
    case 494:
    case 500:
    case 502:
    case 503:
    case 504:
      return default_error_message(status);
    default:
      return {};
  }
}
}  // namespace

ErrorBody render_error(int status, std::string_view message, std::string_view accept,
                       std::string_view request_content_type, ErrorSource source,
                       std::string_view request_id) {
  if (source == ErrorSource::nginx && (status == 501 || status == 505)) {
    // Not in Kong's error_page list (400 404 405 408 411 412 413 414 417 494 500 502 503 504),
    // so nginx answers with its built-in page (server_tokens off: no version).
    std::string_view reason = sb::http::status_reason(status);
    return {"text/html",
            fmt::format("<html>\r\n<head><title>{0} {1}</title></head>\r\n<body>\r\n"
                        "<center><h1>{0} {1}</h1></center>\r\n<hr><center>silverback</center>\r\n"
                        "</body>\r\n</html>\r\n",
                        status, reason)};
  }
  std::string fallback;
  if (message.empty()) {
    message =
        source == ErrorSource::nginx ? nginx_error_message(status) : default_error_message(status);
    if (message.empty()) {
      fallback = fmt::format("The upstream server responded with {}", status);
      message = fallback;
    }
  }
  Format f;
  if (source == ErrorSource::nginx) {
    // Accept, else the request's Content-Type, else error_default_type (text/plain).
    f = !accept.empty()                 ? response_format(accept)
        : !request_content_type.empty() ? response_format(request_content_type)
                                        : Format::plain;
  } else {
    f = response_format(accept);
  }
  switch (f) {
    case Format::plain:
      return {"text/plain; charset=utf-8",
              fmt::format("{}\nrequest_id: {}\n", message, request_id)};
    case Format::html:
      return {"text/html; charset=utf-8",
              fmt::format("<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n"
                          "    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n"
                          "    <p>{}.</p>\n    <p>request_id: {}</p>\n  </body>\n</html>\n",
                          xml_escape(message), request_id)};
    case Format::xml:
      return {"application/xml; charset=utf-8",
              fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n"
                          "  <message>{}</message>\n  <requestid>{}</requestid>\n</error>\n",
                          xml_escape(message), request_id)};
    case Format::json:
    default:
      return {"application/json; charset=utf-8",
              fmt::format("{{\n  \"message\":\"{}\",\n  \"request_id\":\"{}\"\n}}",
                          sb::json_escape(message), request_id)};
  }
}

}  // namespace sb::proxy
