#include "proxy/errors.h"

#include <fmt/format.h>

#include <cstdlib>

#include "common/json.h"
#include "http/message.h"

namespace sb::proxy {
namespace {

enum class Format { json, plain, html, xml, none };

Format format_of(std::string_view media) {
  media = sb::http::trim(media.substr(0, media.find(';')));
  if (sb::http::iequals(media, "application/json") || sb::http::iequals(media, "*/*") ||
      sb::http::iequals(media, "application/*")) {
    return Format::json;
  }
  if (sb::http::iequals(media, "text/plain") || sb::http::iequals(media, "text/*")) {
    return Format::plain;
  }
  if (sb::http::iequals(media, "text/html")) return Format::html;
  if (sb::http::iequals(media, "application/xml") || sb::http::iequals(media, "text/xml")) {
    return Format::xml;
  }
  return Format::none;
}

double quality(std::string_view item) {
  size_t q = item.find(";q=");
  if (q == std::string_view::npos) q = item.find("; q=");
  if (q == std::string_view::npos) return 1.0;
  std::string num(item.substr(item.find('=', q) + 1));
  return std::strtod(num.c_str(), nullptr);
}

// Highest-q known format in an Accept header; Format::none when nothing is known.
Format from_accept(std::string_view accept) {
  Format best = Format::none;
  double best_q = -1;
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view item = sb::http::trim(accept.substr(0, comma));
    Format f = format_of(item);
    double q = quality(item);
    if (f != Format::none && q > 0 && q > best_q) {
      best = f;
      best_q = q;
    }
    if (comma == std::string_view::npos) break;
    accept.remove_prefix(comma + 1);
  }
  return best;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string_view default_error_message(int status) {
  switch (status) {
    case 400: return "Bad request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not found";
    case 405: return "Method not allowed";
    case 408: return "Request timeout";
    case 409: return "Conflict";
    case 411: return "Length required";
    case 413: return "Payload too large";
    case 414: return "URI too long";
    case 415: return "Unsupported media type";
    case 426: return "Upgrade required";
    case 429: return "Too many requests";
    case 500: return "An unexpected error occurred";
    case 502: return "An invalid response was received from the upstream server";
    case 503: return "The upstream server is currently unavailable";
    case 504: return "The upstream server is timing out";
    default: return {};
  }
}

ErrorBody render_error(int status, std::string_view message, std::string_view accept,
                       std::string_view request_content_type, ErrorSource source,
                       std::string_view request_id) {
  std::string fallback;
  if (message.empty()) {
    message = default_error_message(status);
    if (message.empty()) {
      fallback = fmt::format("The upstream server responded with {}", status);
      message = fallback;
    }
  }
  Format f = from_accept(accept);
  if (f == Format::none && source == ErrorSource::nginx) {
    f = format_of(request_content_type);
    if (f == Format::none) f = Format::plain;  // error_default_type
  }
  if (f == Format::none) f = Format::json;
  switch (f) {
    case Format::plain:
      return {"text/plain; charset=utf-8",
              fmt::format("{}\nrequest_id: {}\n", message, request_id)};
    case Format::html:
      return {"text/html; charset=utf-8",
              fmt::format("<!doctype html>\n<html>\n<head>\n  <meta charset=\"utf-8\">\n"
                          "  <title>Error</title>\n</head>\n<body>\n  <h1>Error</h1>\n"
                          "  <p>{}.</p>\n  <p>request_id: {}</p>\n</body>\n</html>\n",
                          xml_escape(message), request_id)};
    case Format::xml:
      return {"application/xml; charset=utf-8",
              fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n"
                          "  <message>{}</message>\n  <requestid>{}</requestid>\n</error>\n",
                          xml_escape(message), request_id)};
    default:
      return {"application/json; charset=utf-8",
              fmt::format("{{\n  \"message\":\"{}\",\n  \"request_id\":\"{}\"\n}}",
                          sb::json_escape(message), request_id)};
  }
}

}  // namespace sb::proxy
