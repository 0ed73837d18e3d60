#include "http/parser.h"

#include <cstdint>

namespace sb::http {
namespace {

// nginx refuses a chunk size over NGX_MAX_OFF_T_VALUE / 16 (it checks before every digit);
// llhttp takes any size that fits 64 bits.
constexpr uint64_t kMaxChunkSize = static_cast<uint64_t>(INT64_MAX) / 16;

bool is_tchar(unsigned char c) {
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         kSpecials.find(static_cast<char>(c)) != std::string_view::npos;
}

// nginx's ngx_http_validate_host(): no "..", no '/', no control characters or spaces, and
// something before the port.
bool valid_host(std::string_view host) {
  size_t host_len = host.size();
  size_t dot_pos = std::string_view::npos;
  enum { usual, literal, rest } state = usual;
  for (size_t i = 0; i < host.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(host[i]);
    switch (c) {
      case '.':
        if (dot_pos != std::string_view::npos && dot_pos + 1 == i) return false;
        dot_pos = i;
        break;
      case ':':
        if (state == usual) {
          host_len = i;
          state = rest;
        }
        break;
      case '[':
        if (i == 0) state = literal;
        break;
      case ']':
        if (state == literal) {
          host_len = i + 1;
          state = rest;
        }
        break;
      default:
        if (c == '/' || c <= 0x20 || c == 0x7f) return false;
        break;
    }
  }
  if (dot_pos != std::string_view::npos && dot_pos + 1 == host_len) --host_len;
  return host_len > 0;
}

// The authority of an absolute-form target as nginx's request-line parser takes it: letters,
// digits, '.' and '-' (or an IPv6 literal), then an optional numeric port.
bool valid_target_authority(std::string_view authority) {
  size_t i = 0;
  if (!authority.empty() && authority[0] == '[') {
    i = authority.find(']');
    if (i == std::string_view::npos) return false;
    for (size_t k = 1; k < i; ++k) {
      char c = authority[k];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
            c == ':' || c == '.')) {
        return false;
      }
    }
    ++i;
  } else {
    for (; i < authority.size(); ++i) {
      char c = static_cast<char>(authority[i] | 0x20);
      if (!((c >= 'a' && c <= 'z') || (authority[i] >= '0' && authority[i] <= '9') ||
            authority[i] == '.' || authority[i] == '-')) {
        break;
      }
    }
  }
  if (i < authority.size()) {
    if (authority[i] != ':') return false;
    for (size_t k = i + 1; k < authority.size(); ++k) {
      if (authority[k] < '0' || authority[k] > '9') return false;
    }
  }
  return valid_host(authority);
}

}  // namespace

Parser::Parser(llhttp_type_t type, ParserEvents* events, const Limits* limits)
    : events_(events), limits_(limits) {
  static llhttp_settings_t s = [] {
    llhttp_settings_t st;
    llhttp_settings_init(&st);
    st.on_message_begin = &Parser::cb_message_begin;
    st.on_url = &Parser::cb_url;
    st.on_status = &Parser::cb_status;
    st.on_header_field = &Parser::cb_header_field;
    st.on_header_value = &Parser::cb_header_value;
    st.on_header_value_complete = &Parser::cb_header_value_complete;
    st.on_headers_complete = &Parser::cb_headers_complete;
    st.on_body = &Parser::cb_body;
    st.on_chunk_header = &Parser::cb_chunk_header;
    st.on_message_complete = &Parser::cb_message_complete;
    return st;
  }();
  llhttp_init(&parser_, type, &s);
  parser_.data = this;
}

void Parser::reset() {
  llhttp_reset(&parser_);
  parser_.data = this;
  started_ = false;
  head_done_ = false;
  no_body_ = false;
  line_bytes_ = 0;
  value_end_ = nullptr;
  value_tab_ = false;
  trailing_tab_ = false;
  crlf_left_ = 0;
  te_headers_ = 0;
  te_chunked_ = false;
  failed_ = false;
  error_ = HPE_OK;
  error_status_ = 400;
  error_reason_ = "";
}

int Parser::fail(int status, const char* reason) {
  failed_ = true;
  error_status_ = status;
  error_reason_ = reason;
  return HPE_USER;
}

int Parser::cb_message_begin(llhttp_t* p) {
  auto* self = static_cast<Parser*>(p->data);
  self->head_.clear();
  self->started_ = true;
  self->head_done_ = false;
  self->line_bytes_ = 0;
  self->crlf_left_ = 0;
  self->value_tab_ = false;
  self->te_headers_ = 0;
  self->te_chunked_ = false;
  return 0;
}

int Parser::cb_url(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<Parser*>(p->data);
  self->head_.append_target(at, n);
  if (self->head_.target().size() > self->limits_->max_request_line) {
    return self->fail(414, "URI too long");
  }
  return 0;
}

int Parser::cb_status(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<Parser*>(p->data);
  self->head_.append_reason(at, n);
  if (self->head_.reason().size() > self->limits_->max_header_line) {
    return self->fail(502, "status line too long");
  }
  return 0;
}

int Parser::cb_header_field(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<Parser*>(p->data);
  if (self->head_done_) return 0;  // chunked trailers are not forwarded
  self->head_.append_name(at, n);
  self->line_bytes_ += n;
  if (self->line_bytes_ > self->limits_->max_header_line ||
      self->head_.bytes() > self->limits_->max_header_bytes) {
    return self->fail(400, "Request header or cookie too large");
  }
  return 0;
}

int Parser::cb_header_value(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<Parser*>(p->data);
  if (self->head_done_) return 0;
  // A value continued after a gap in the input is an obs-fold line (llhttp unfolds it; nginx
  // >= 1.21.1 rejects it). Continuations across reads are contiguous with the previous read.
  if (self->value_end_ != nullptr) {
    bool contiguous = at == self->value_end_ ||
                      (at == self->exec_begin_ && self->value_end_ == self->prev_exec_end_);
    if (!contiguous) return self->fail(400, "Invalid header folding");
  } else if (n > 0) {
    // A first fragment preceded (after optional whitespace) by a line break instead of the
    // colon began on a folded line ("Name:\r\n value").
    const char* q = at;
    bool tab = false;
    while (q > self->exec_begin_ && (q[-1] == ' ' || q[-1] == '\t')) tab |= *--q == '\t';
    if (q > self->exec_begin_ && q[-1] == '\n') return self->fail(400, "Invalid header folding");
    // Whitespace reaching back to the start of this input continues the previous one's.
    self->value_tab_ = tab || (q == self->exec_begin_ && self->trailing_tab_);
  }
  self->value_end_ = at + n;
  self->head_.append_value(at, n);
  self->line_bytes_ += n;
  if (self->line_bytes_ > self->limits_->max_header_line ||
      self->head_.bytes() > self->limits_->max_header_bytes) {
    return self->fail(400, "Request header or cookie too large");
  }
  return 0;
}

int Parser::cb_header_value_complete(llhttp_t* p) {
  auto* self = static_cast<Parser*>(p->data);
  self->line_bytes_ = 0;
  self->value_end_ = nullptr;
  if (self->head_done_) return 0;
  MessageHead& h = self->head_;
  if (h.field_count() == 0) return self->fail(400, "Invalid header name");
  std::string_view name = h.name(h.field_count() - 1);
  if (name.empty()) return self->fail(400, "Invalid header name");
  // llhttp unfolds obs-fold continuation lines into the value; nginx (>= 1.21.1) rejects them.
  std::string_view value = h.value(h.field_count() - 1);
  if (value.find_first_of("\r\n") != std::string_view::npos) {
    return self->fail(400, "Invalid header folding");
  }
  for (char c : name) {
    if (!is_tchar(static_cast<unsigned char>(c))) return self->fail(400, "Invalid header name");
  }
  if (p->type == HTTP_REQUEST) {
    if (int status = self->check_request_field(name, value); status != 0) {
      return self->fail(status, "Bad request");
    }
  }
  self->value_tab_ = false;
  h.trim_last_value();  // trailing whitespace is not part of a field value (RFC 7230 §3.2.4)
  return 0;
}

// The header-line checks nginx makes as it reads a request head (ngx_http_process_host,
// ngx_http_process_unique_header_line, ngx_atoof): `raw_value` still has its trailing
// whitespace, and value_tab_ tells whether a tab preceded it. nginx skips only spaces around a
// value, so a tab is part of it there: "Transfer-Encoding:<TAB>chunked" is not "chunked" and
// "Content-Length: 5<TAB>" is not a number.
int Parser::check_request_field(std::string_view name, std::string_view raw_value) {
  if (iequals(name, "Host")) {
    std::string_view host = raw_value;
    while (!host.empty() && host.back() == ' ') host.remove_suffix(1);
    return valid_host(host) && !value_tab_ ? 0 : 400;
  }
  if (iequals(name, "Content-Length")) {
    bool tab = value_tab_ || (!raw_value.empty() && raw_value.find('\t') != std::string_view::npos);
    return tab ? 400 : 0;
  }
  if (iequals(name, "Transfer-Encoding")) {
    if (++te_headers_ > 1) return 400;  // a duplicate header line
    std::string_view value = raw_value;
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    te_chunked_ = !value_tab_ && iequals(value, "chunked");
  }
  return 0;
}

// What nginx decides once a request head is complete (ngx_http_process_request_header), for
// what llhttp lets through: Transfer-Encoding on HTTP/1.0 or other than exactly "chunked" (501:
// nginx reads no other coding, where llhttp takes any list ending in chunked), HTTP versions
// above 1.x (505), an absolute-form target whose host nginx would not parse.
int Parser::check_request_head() {
  if (te_headers_ > 0) {
    if (parser_.http_major == 1 && parser_.http_minor == 0) return 400;
    if (!te_chunked_) return 501;
  }
  if (parser_.http_major > 1) return 505;
  std::string_view target = head_.target();
  size_t scheme = target.substr(0, 8) == "https://" ? 8 : target.substr(0, 7) == "http://" ? 7 : 0;
  if (scheme > 0) {
    std::string_view authority =
        target.substr(scheme, target.find_first_of("/?#", scheme) - scheme);
    if (!valid_target_authority(authority)) return 400;
  }
  return 0;
}

// llhttp's own errors for Transfer-Encoding, told apart the way nginx answers them: a coding
// other than chunked is 501, unless the header is a duplicate or the request HTTP/1.0 (400).
void Parser::remap_request_error(llhttp_errno_t err) {
  std::string_view reason = llhttp_get_error_reason(&parser_);
  bool te_value = err == HPE_INVALID_TRANSFER_ENCODING && te_headers_ == 0;
  bool te_with_length = err == HPE_UNEXPECTED_CONTENT_LENGTH && te_headers_ == 1 && !te_chunked_ &&
                        reason.find("Transfer-Encoding") != std::string_view::npos;
  if ((te_value || te_with_length) && !(parser_.http_major == 1 && parser_.http_minor == 0)) {
    error_status_ = 501;
  } else if (err == HPE_INVALID_VERSION && parser_.http_major > 1) {
    error_status_ = 505;
  }
}

int Parser::cb_headers_complete(llhttp_t* p) {
  auto* self = static_cast<Parser*>(p->data);
  MessageHead& h = self->head_;
  h.http_major = p->http_major;
  h.http_minor = p->http_minor;
  h.method = p->method;
  h.status = p->status_code;
  h.chunked = (p->flags & F_CHUNKED) != 0;
  h.content_length = (p->flags & F_CONTENT_LENGTH) ? static_cast<int64_t>(p->content_length) : -1;
  h.keep_alive = llhttp_should_keep_alive(p) != 0;
  h.upgrade = p->upgrade != 0;
  // A Content-Length beyond off_t is invalid for nginx; llhttp takes any uint64_t, which as
  // int64_t read as "no body" and left the body to be parsed as the next request.
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > INT64_MAX) {
    return self->fail(p->type == HTTP_REQUEST ? 400 : 502, "Invalid Content-Length");
  }
  if (p->type == HTTP_REQUEST) {
    if (int status = self->check_request_head(); status != 0) {
      return self->fail(status, status == 501   ? "Not Implemented"
                                : status == 505 ? "HTTP Version Not Supported"
                                                : "Bad request");
    }
  }
  self->head_done_ = true;
  int rc = self->events_->on_head(h);
  if (rc == 1) return 1;
  if (rc != 0) return self->fail(self->error_status_, "rejected");
  if (self->no_body_) return 1;
  return 0;
}

int Parser::cb_body(llhttp_t* p, const char* at, size_t n) {
  auto* self = static_cast<Parser*>(p->data);
  if ((p->flags & F_CHUNKED) && p->content_length == 0) {
    // The chunk's data ends here: CRLF must follow (checked now if it is in this input, else at
    // the start of the next), before the data goes anywhere.
    self->crlf_left_ = 2;
    if (!self->chunk_crlf_ok(at + n, self->exec_end_)) {
      return self->fail(400, "Invalid chunk data terminator");
    }
  }
  self->events_->on_body(at, n);
  return 0;
}

int Parser::cb_chunk_header(llhttp_t* p) {
  auto* self = static_cast<Parser*>(p->data);
  if (p->content_length > kMaxChunkSize) return self->fail(400, "Invalid chunk size");
  return 0;
}

bool Parser::chunk_crlf_ok(const char* from, const char* end) {
  for (; crlf_left_ > 0 && from < end; ++from, --crlf_left_) {
    if (*from != (crlf_left_ == 2 ? '\r' : '\n')) return false;
  }
  return true;
}

int Parser::cb_message_complete(llhttp_t* p) {
  auto* self = static_cast<Parser*>(p->data);
  self->started_ = false;
  self->head_done_ = false;
  bool pause = self->events_->on_message_end();
  // Upgrades stop by themselves (HPE_PAUSED_UPGRADE); other messages pause here when the owner
  // wants to decide when the next pipelined message may start.
  if (p->upgrade || !pause) return 0;
  return HPE_PAUSED;
}

ParseStatus Parser::status_from(llhttp_errno_t err, const char* data, size_t len,
                                size_t* consumed) {
  switch (err) {
    case HPE_OK:
      *consumed = len;
      return ParseStatus::ok;
    case HPE_PAUSED:
      *consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
      return ParseStatus::paused;
    case HPE_PAUSED_UPGRADE:
      *consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
      return ParseStatus::upgraded;
    default:
      error_ = failed_ ? HPE_USER : err;
      if (!failed_) {
        error_status_ = 400;
        error_reason_ = llhttp_get_error_reason(&parser_);
        if (parser_.type == HTTP_REQUEST) remap_request_error(err);
      }
      *consumed = 0;
      return ParseStatus::error;
  }
}

ParseStatus Parser::execute(const char* data, size_t len, size_t* consumed) {
  exec_begin_ = data;
  exec_end_ = data + len;
  if (crlf_left_ > 0 && !chunk_crlf_ok(data, data + len)) {
    fail(400, "Invalid chunk data terminator");
    error_ = HPE_USER;
    *consumed = 0;
    return ParseStatus::error;
  }
  ParseStatus s = status_from(llhttp_execute(&parser_, data, len), data, len, consumed);
  prev_exec_end_ = data + len;
  // Whitespace at the end of this input, for a header value that starts in the next one.
  const char* q = data + len;
  bool tab = false;
  while (q > data && (q[-1] == ' ' || q[-1] == '\t')) tab |= *--q == '\t';
  trailing_tab_ = tab || (q == data && trailing_tab_);
  return s;
}

ParseStatus Parser::finish() {
  if (!started_) return ParseStatus::ok;  // between messages: nothing to finish
  size_t consumed = 0;
  llhttp_errno_t err = llhttp_finish(&parser_);
  if (err == HPE_OK || err == HPE_PAUSED) return ParseStatus::ok;
  return status_from(err, nullptr, 0, &consumed);
}

}  // namespace sb::http
