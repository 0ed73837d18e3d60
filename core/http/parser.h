// llhttp wrapped for a gateway: collects the message head with size limits, streams body bytes,
// and pauses at the end of every message so pipelined requests are handled one at a time.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <string_view>

#include "http/message.h"

namespace sb::http {

struct Limits {
  size_t max_request_line = 8192;   // nginx large_client_header_buffers: 8k per line -> 414
  size_t max_header_line = 8192;    // one header line over this -> 400 (Kong 3.6+ wording)
  size_t max_header_bytes = 32768;  // whole head (4 x 8k buffers) -> 400
};

class ParserEvents {
 public:
  // The head is complete. For responses, return 1 to announce "no body" (HEAD requests);
  // any other non-zero value aborts with HPE_USER.
  virtual int on_head(MessageHead& head) = 0;
  virtual void on_body(const char* data, size_t len) = 0;
  // Return true to pause the parser here (the owner resumes it for the next message).
  virtual bool on_message_end() = 0;

 protected:
  ~ParserEvents() = default;
};

enum class ParseStatus {
  ok,        // all bytes consumed
  paused,    // stopped at the end of a message; `consumed` says how far
  upgraded,  // head of an Upgrade/CONNECT message done; the rest is tunnel data
  error,
};

class Parser {
 public:
  Parser(llhttp_type_t type, ParserEvents* events, const Limits* limits);
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  ParseStatus execute(const char* data, size_t len, size_t* consumed);
  // Signals end of input (close-delimited bodies end here).
  ParseStatus finish();
  void resume() { llhttp_resume(&parser_); }
  void reset();  // before a new message on a reused connection
  // Hands a (pooled) parser to a new owner, ready for a first message.
  void bind(ParserEvents* events) {
    events_ = events;
    reset();
  }
  // Responses: the request was HEAD, so the response has no body.
  void set_no_body_expected(bool v) { no_body_ = v; }

  MessageHead& head() { return head_; }
  const MessageHead& head() const { return head_; }
  llhttp_errno_t error() const { return error_; }
  std::string_view error_reason() const { return error_reason_; }
  // Status an error should be answered with: 400, 414 (long URI), or 400 for big headers.
  int error_status() const { return error_status_; }
  bool message_started() const { return started_; }
  bool in_head() const { return started_ && !head_done_; }
  bool head_done() const { return head_done_; }

 private:
  static int cb_message_begin(llhttp_t*);
  static int cb_url(llhttp_t*, const char*, size_t);
  static int cb_status(llhttp_t*, const char*, size_t);
  static int cb_header_field(llhttp_t*, const char*, size_t);
  static int cb_header_value(llhttp_t*, const char*, size_t);
  static int cb_header_value_complete(llhttp_t*);
  static int cb_headers_complete(llhttp_t*);
  static int cb_body(llhttp_t*, const char*, size_t);
  static int cb_chunk_header(llhttp_t*);
  static int cb_message_complete(llhttp_t*);
  int fail(int status, const char* reason);
  ParseStatus status_from(llhttp_errno_t err, const char* data, size_t len, size_t* consumed);
  // nginx's checks of a request's framing headers and target (see parser.cpp).
  int check_request_field(std::string_view name, std::string_view raw_value);
  int check_request_head();
  void remap_request_error(llhttp_errno_t err);
  bool chunk_crlf_ok(const char* from, const char* end);

  llhttp_t parser_;
  ParserEvents* events_;
  const Limits* limits_;
  MessageHead head_;
  size_t line_bytes_ = 0;
  int error_status_ = 400;
  const char* error_reason_ = "";
  llhttp_errno_t error_ = HPE_OK;
  bool started_ = false;
  bool head_done_ = false;
  bool no_body_ = false;
  bool failed_ = false;  // a callback rejected the message (error_status_ is ours)
  // Obs-fold detection: where the current header value's last fragment ended, and the bounds
  // of the current and previous execute() input.
  const char* value_end_ = nullptr;
  const char* exec_begin_ = nullptr;
  const char* exec_end_ = nullptr;
  const char* prev_exec_end_ = nullptr;
  // A tab in the whitespace before the current header value (llhttp skips it silently), and in
  // the whitespace that ended the previous execute() input (a value may start in the next one).
  bool value_tab_ = false;
  bool trailing_tab_ = false;
  // Bytes of the CRLF that must follow the current chunk's data, still to be checked: llhttp's
  // (non-strict) build skips those two bytes without looking at them.
  uint8_t crlf_left_ = 0;
  // Request Transfer-Encoding headers seen, and whether the (only) one is exactly "chunked".
  uint8_t te_headers_ = 0;
  bool te_chunked_ = false;
};

}  // namespace sb::http
