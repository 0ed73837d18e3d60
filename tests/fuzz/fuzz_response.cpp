// Response bytes -> sb::http::Parser (HTTP_RESPONSE) as the upstream side uses it: chunked and
// close-delimited bodies, HEAD answers (set_no_body_expected / on_head returning 1), finish() at
// EOF, and the parser reused for a second response after reset(). Input: 3 control bytes, then
// the raw bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "http/message.h"
#include "http/parser.h"

namespace {

class Events final : public sb::http::ParserEvents {
 public:
  explicit Events(uint8_t flags) : flags_(flags) {}
  int on_head(sb::http::MessageHead& head) override {
    ++heads;
    for (size_t i = 0; i < head.field_count(); ++i) sink += head.name(i).size();
    sink += head.reason().size() + sb::http::status_reason(head.status).size();
    if (flags_ & 1) return 1;  // "no body" (HEAD request)
    return 0;
  }
  void on_body(const char* data, size_t len) override { body.append(data, len); }
  bool on_message_end() override {
    ++messages;
    return !(flags_ & 2);
  }
  std::string body;
  size_t heads = 0, messages = 0, sink = 0;

 private:
  uint8_t flags_;
};

void run(sb::http::Parser& parser, std::string_view bytes, uint8_t a, uint8_t b) {
  size_t begin = 0;
  bool done = false;
  for (size_t cut : sb::fuzz::split_points(bytes.size(), a, b)) {
    if (done) break;
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
      done = true;
    }
  }
  if (!done) parser.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sb::fuzz::Input in(data, size);
  uint8_t a = in.byte(), b = in.byte(), flags = in.byte();
  std::string_view bytes = in.rest();

  sb::http::Limits limits;
  if (flags & 4) {
    limits.max_request_line = 64;
    limits.max_header_line = 64;
    limits.max_header_bytes = 256;
  }
  Events events(flags);
  sb::http::Parser parser(HTTP_RESPONSE, &events, &limits);
  parser.set_no_body_expected(flags & 8);
  run(parser, bytes, a, b);

  // The upstream pool reuses parsers: reset, optionally rebind, and parse the input again.
  if (flags & 16) {
    Events second(flags >> 5);
    parser.bind(&second);
    parser.set_no_body_expected(flags & 32);
    run(parser, bytes, b, a);
  }
  return 0;
}
