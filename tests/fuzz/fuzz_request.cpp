// Request bytes -> sb::http::Parser (HTTP_REQUEST), fed in 1..3 pieces, pipelined messages
// resumed as the session does. Every complete head is normalised and turned into the upstream
// request the proxy would write. Input: 2 control bytes, then the raw bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "http/message.h"
#include "http/parser.h"
#include "proxy/headers.h"
#include "proxy/settings.h"
#include "proxy/transaction.h"
#include "router/router.h"

namespace {

class Events final : public sb::http::ParserEvents {
 public:
  Events(uint8_t flags, uint8_t a) : flags_(flags), a_(a) {}

  int on_head(sb::http::MessageHead& head) override {
    ++heads;
    const sb::http::MessageHead& req = head;
    std::string_view target = req.target();
    std::string path;
    bool ok = sb::router::normalize_path(target, path);
    sb::proxy::Transaction t;
    std::memset(t.request_id, 'a', sizeof(t.request_id));
    t.client_minor = req.http_minor;
    t.head_request = req.method == HTTP_HEAD;
    t.chunked = req.chunked;
    t.content_length = req.content_length;
    t.upgrade = req.upgrade;
    size_t q = target.find('?');
    t.raw_path = target.substr(0, q);
    t.query = q == std::string_view::npos ? std::string_view() : target.substr(q);
    t.host_header = req.get("Host");
    t.host = "example.com";
    t.path = ok ? path : "/";
    t.https = flags_ & 1;
    t.match.upstream_path = sb::router::join_upstream_path((flags_ & 2) ? "/base" : "/", t.path,
                                                           (flags_ & 4) ? "/p" : "", flags_ & 8,
                                                           (flags_ & 16) ? "v1" : "v0");
    if (flags_ & 32) t.match.stripped_prefix = "/p";
    t.upstream_host_header = "backend.internal:8080";
    sb::proxy::Settings settings;
    if (flags_ & 64) settings.headers_upstream = 0;
    if (a_ & 0x40) {  // every peer trusted: X-Forwarded-For / X-Real-IP walked recursively
      sb::proxy::Cidr any4, any6;
      sb::proxy::parse_cidr("0.0.0.0/0", any4);
      sb::proxy::parse_cidr("::/0", any6);
      settings.trusted_ips = {any4, any6};
      settings.real_ip_recursive = true;
    }
    if (a_ & 0x20) settings.real_ip_header = "X-Forwarded-For";
    std::string out;
    sb::proxy::build_upstream_request(out, t, req, settings, "203.0.113.7", flags_ & 128, 8000);
    // Touch every field so ASan sees any bad span.
    for (size_t i = 0; i < req.field_count(); ++i) sink += req.name(i).size() + req.value(i).size();
    sink += out.size();
    return 0;
  }
  void on_body(const char* data, size_t len) override { body.append(data, len); }
  bool on_message_end() override {
    ++messages;
    return true;
  }

  std::string body;
  size_t heads = 0, messages = 0, sink = 0;

 private:
  uint8_t flags_, a_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sb::fuzz::Input in(data, size);
  uint8_t a = in.byte(), b = in.byte(), flags = in.byte();
  std::string_view bytes = in.rest();

  sb::http::Limits limits;
  if (a & 0x80) {  // small limits reach the 414/400 paths quickly
    limits.max_request_line = 64;
    limits.max_header_line = 64;
    limits.max_header_bytes = 256;
  }
  Events events(flags, a);
  sb::http::Parser parser(HTTP_REQUEST, &events, &limits);

  size_t begin = 0;
  bool done = false;
  for (size_t cut : sb::fuzz::split_points(bytes.size(), a, b)) {
    if (done) break;
    // Each piece is its own buffer, as a socket read would be.
    std::string piece(bytes.substr(begin, cut - begin));
    begin = cut;
    size_t off = 0;
    for (int guard = 0; !done && guard < 100000; ++guard) {
      size_t consumed = 0;
      auto st = parser.execute(piece.data() + off, piece.size() - off, &consumed);
      if (st == sb::http::ParseStatus::ok) break;
      if (st == sb::http::ParseStatus::paused) {
        off += consumed;
        parser.resume();
        if (off >= piece.size()) break;
        continue;
      }
      done = true;  // upgraded (tunnel) or error: the session stops parsing here
      if (st == sb::http::ParseStatus::error) {
        (void)parser.error_status();
        (void)parser.error_reason();
      }
    }
  }
  if (!done) parser.finish();
  return 0;
}
