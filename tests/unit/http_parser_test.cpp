// HTTP/1.x message heads and the llhttp wrapper (core/http): framing, pausing between pipelined
// messages, upgrades, size limits and the rejections that matter for request smuggling.
#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/message.h"
#include "http/parser.h"

namespace {

using sb::http::Limits;
using sb::http::MessageHead;
using sb::http::Parser;
using sb::http::ParserEvents;
using sb::http::ParseStatus;

// Everything the parser reported about one message, copied out of the (reused) head.
struct Message {
  int method = -1;
  int status = 0;
  int major = 0;
  int minor = 0;
  std::string target;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t content_length = -2;
  bool chunked = false;
  bool keep_alive = false;
  bool upgrade = false;
  std::string body;
  bool complete = false;

  bool operator==(const Message&) const = default;
};

void PrintTo(const Message& m, std::ostream* os) {
  *os << "{method=" << m.method << " status=" << m.status << " HTTP/" << m.major << "." << m.minor
      << " target='" << m.target << "' reason='" << m.reason << "' headers=[";
  for (const auto& [name, value] : m.headers) *os << "'" << name << "': '" << value << "', ";
  *os << "] cl=" << m.content_length << " chunked=" << m.chunked << " ka=" << m.keep_alive
      << " upgrade=" << m.upgrade << " body='" << m.body << "' complete=" << m.complete << "}";
}

class Recorder final : public ParserEvents {
 public:
  int on_head(MessageHead& h) override {
    Message m;
    m.method = h.method;
    m.status = h.status;
    m.major = h.http_major;
    m.minor = h.http_minor;
    m.target = std::string(h.target());
    m.reason = std::string(h.reason());
    for (size_t i = 0; i < h.field_count(); ++i) {
      m.headers.emplace_back(std::string(h.name(i)), std::string(h.value(i)));
    }
    m.content_length = h.content_length;
    m.chunked = h.chunked;
    m.keep_alive = h.keep_alive;
    m.upgrade = h.upgrade;
    messages.push_back(std::move(m));
    return head_rc;
  }
  void on_body(const char* data, size_t len) override {
    body_calls++;
    if (messages.empty()) {
      orphan_body.append(data, len);
    } else {
      messages.back().body.append(data, len);
    }
  }
  bool on_message_end() override {
    if (!messages.empty()) messages.back().complete = true;
    ends++;
    return pause;
  }

  std::vector<Message> messages;
  std::string orphan_body;
  int body_calls = 0;
  int ends = 0;
  bool pause = true;
  int head_rc = 0;
};

const Limits kDefaultLimits;

// Feeds `data` in the given chunk sizes, resuming after every pause. Returns the last status;
// `consumed_total` is how far into `data` the parser got.
ParseStatus FeedChunks(Parser& p, std::string_view data, const std::vector<size_t>& chunks,
                       size_t* consumed_total = nullptr) {
  size_t pos = 0;
  size_t chunk_index = 0;
  ParseStatus st = ParseStatus::ok;
  while (pos < data.size()) {
    size_t n = chunk_index < chunks.size() ? chunks[chunk_index++] : data.size() - pos;
    n = std::min(n, data.size() - pos);
    size_t end = pos + n;
    while (pos < end) {
      size_t consumed = 0;
      st = p.execute(data.data() + pos, end - pos, &consumed);
      if (st == ParseStatus::paused) {
        pos += consumed;
        p.resume();
        continue;
      }
      if (st == ParseStatus::ok) pos = end;
      if (st == ParseStatus::upgraded) pos += consumed;
      if (st != ParseStatus::ok) {
        if (consumed_total) *consumed_total = pos;
        return st;
      }
    }
  }
  if (consumed_total) *consumed_total = pos;
  return st;
}

ParseStatus FeedAll(Parser& p, std::string_view data) { return FeedChunks(p, data, {}); }

ParseStatus FeedBytewise(Parser& p, std::string_view data) {
  return FeedChunks(p, data, std::vector<size_t>(data.size(), 1));
}

Message ParseOneRequest(std::string_view data, ParseStatus* status = nullptr) {
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  ParseStatus st = FeedAll(p, data);
  if (status) *status = st;
  EXPECT_EQ(r.messages.size(), 1u);
  return r.messages.empty() ? Message{} : r.messages.front();
}

// Parses a request that must be rejected; returns the parser's error_status().
struct Rejection {
  ParseStatus status;
  llhttp_errno_t error;
  int http_status;
  std::string reason;
};

Rejection Reject(std::string_view data, const Limits& limits = kDefaultLimits,
                 llhttp_type_t type = HTTP_REQUEST) {
  Recorder r;
  Parser p(type, &r, &limits);
  ParseStatus st = FeedAll(p, data);
  return {st, p.error(), p.error_status(), std::string(p.error_reason())};
}

// ------------------------------------------------------------------------------------------------
// MessageHead helpers

TEST(HttpMessage, IequalsIsAsciiCaseInsensitive) {
  EXPECT_TRUE(sb::http::iequals("Content-Length", "content-length"));
  EXPECT_TRUE(sb::http::iequals("", ""));
  EXPECT_FALSE(sb::http::iequals("Content-Length", "Content-Lengt"));
  EXPECT_FALSE(sb::http::iequals("a", "b"));
  // '@' (0x40) and '`' (0x60) differ by 0x20 but are not letters.
  EXPECT_FALSE(sb::http::iequals("@", "`"));
  EXPECT_FALSE(sb::http::iequals("[", "{"));
}

TEST(HttpMessage, HasTokenSplitsOnCommasAndTrims) {
  EXPECT_TRUE(sb::http::has_token("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(sb::http::has_token("close", "Close"));
  EXPECT_TRUE(sb::http::has_token(" gzip ,\tchunked\t", "chunked"));
  EXPECT_TRUE(sb::http::has_token("a,,b", "b"));
  EXPECT_FALSE(sb::http::has_token("keep-alive, Upgrade", "keep"));
  EXPECT_FALSE(sb::http::has_token("trailersx", "trailers"));
  EXPECT_FALSE(sb::http::has_token("", "close"));
}

TEST(HttpMessage, TrimRemovesSpacesAndTabsOnly) {
  EXPECT_EQ(sb::http::trim(" \t a b \t "), "a b");
  EXPECT_EQ(sb::http::trim("   "), "");
  EXPECT_EQ(sb::http::trim("\r\nx"), "\r\nx");
}

TEST(HttpMessage, StatusReasonsAreNginxPhrases) {
  EXPECT_EQ(sb::http::status_reason(200), "OK");
  EXPECT_EQ(sb::http::status_reason(101), "Switching Protocols");
  EXPECT_EQ(sb::http::status_reason(302), "Moved Temporarily");
  EXPECT_EQ(sb::http::status_reason(404), "Not Found");
  EXPECT_EQ(sb::http::status_reason(405), "Not Allowed");
  EXPECT_EQ(sb::http::status_reason(414), "Request-URI Too Large");
  EXPECT_EQ(sb::http::status_reason(502), "Bad Gateway");
  EXPECT_EQ(sb::http::status_reason(503), "Service Temporarily Unavailable");
  EXPECT_EQ(sb::http::status_reason(504), "Gateway Time-out");
  EXPECT_EQ(sb::http::status_reason(299), "Unknown");
}

TEST(HttpMessage, GetAndCountAreCaseInsensitiveAndFirstWins) {
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  ASSERT_EQ(FeedAll(p, "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\nX-B: 3\r\n\r\n"),
            ParseStatus::paused);
  const MessageHead& h = p.head();
  bool found = false;
  EXPECT_EQ(h.get("X-A", &found), "1");
  EXPECT_TRUE(found);
  EXPECT_EQ(h.get("x-b"), "3");
  EXPECT_EQ(h.get("X-Missing", &found), "");
  EXPECT_FALSE(found);
  EXPECT_EQ(h.count("X-a"), 2u);
  EXPECT_EQ(h.count("x-b"), 1u);
  EXPECT_EQ(h.count("nope"), 0u);
}

TEST(HttpMessage, ReleaseResetsEverything) {
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  ASSERT_EQ(FeedAll(p, "POST /x HTTP/1.0\r\nContent-Length: 0\r\n\r\n"), ParseStatus::paused);
  MessageHead& h = p.head();
  EXPECT_GT(h.bytes(), 0u);
  h.release();
  EXPECT_EQ(h.bytes(), 0u);
  EXPECT_EQ(h.field_count(), 0u);
  EXPECT_EQ(h.target(), "");
  EXPECT_EQ(h.content_length, -1);
  EXPECT_EQ(h.http_minor, 1);
  EXPECT_TRUE(h.keep_alive);
}

// ------------------------------------------------------------------------------------------------
// Requests

constexpr std::string_view kSimpleGet =
    "GET /path/to?x=1&y=%20 HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "User-Agent: curl/8.0\r\n"
    "Accept: */*\r\n"
    "X-Empty:\r\n"
    "X-Spaces:   padded value\r\n"
    "\r\n";

Message ExpectedSimpleGet() {
  Message m;
  m.method = HTTP_GET;
  m.major = 1;
  m.minor = 1;
  m.target = "/path/to?x=1&y=%20";
  m.headers = {{"Host", "example.com"},
               {"User-Agent", "curl/8.0"},
               {"Accept", "*/*"},
               {"X-Empty", ""},
               {"X-Spaces", "padded value"}};
  m.content_length = -1;
  m.keep_alive = true;
  m.complete = true;
  return m;
}

TEST(HttpParser, SimpleGet) {
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  size_t consumed = 0;
  EXPECT_EQ(p.execute(kSimpleGet.data(), kSimpleGet.size(), &consumed), ParseStatus::paused);
  EXPECT_EQ(consumed, kSimpleGet.size());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0], ExpectedSimpleGet());
  EXPECT_EQ(r.body_calls, 0);
  EXPECT_EQ(p.error(), HPE_OK);
  EXPECT_FALSE(p.message_started());
}

TEST(HttpParser, EmptyHeaderValueDoesNotMergeWithNextHeaderName) {
  Message m = ParseOneRequest("GET / HTTP/1.1\r\nX-Empty:\r\nFoo: bar\r\n\r\n");
  std::vector<std::pair<std::string, std::string>> want = {{"X-Empty", ""}, {"Foo", "bar"}};
  EXPECT_EQ(m.headers, want);
}

// RFC 7230 §3.2.4: OWS around the field value is not part of it. nginx ends the value before
// trailing spaces (ngx_http_parse_header_line, sw_space_after_value), so "Host: a.com  " routes
// as a.com and is forwarded without the spaces.
TEST(HttpParser, TrailingSpacesAreNotPartOfTheValue) {
  Message m = ParseOneRequest("GET / HTTP/1.1\r\nHost: a.com  \r\nX-B: v w \r\n\r\n");
  std::vector<std::pair<std::string, std::string>> want = {{"Host", "a.com"}, {"X-B", "v w"}};
  EXPECT_EQ(m.headers, want);
}

TEST(HttpParser, HeadStateAccessors) {
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  std::string_view part1 = "POST / HTTP/1.1\r\nHost: a\r\n";
  size_t consumed = 0;
  ASSERT_EQ(p.execute(part1.data(), part1.size(), &consumed), ParseStatus::ok);
  EXPECT_TRUE(p.message_started());
  EXPECT_TRUE(p.in_head());
  EXPECT_FALSE(p.head_done());
  std::string_view part2 = "Content-Length: 4\r\n\r\nab";
  ASSERT_EQ(p.execute(part2.data(), part2.size(), &consumed), ParseStatus::ok);
  EXPECT_TRUE(p.head_done());
  EXPECT_FALSE(p.in_head());
  std::string_view part3 = "cd";
  ASSERT_EQ(p.execute(part3.data(), part3.size(), &consumed), ParseStatus::paused);
  EXPECT_FALSE(p.message_started());
  EXPECT_FALSE(p.head_done());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].body, "abcd");
}

TEST(HttpParser, EveryByteBoundaryGivesTheSameResult) {
  const std::string data = std::string(kSimpleGet) +
                           "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\n\r\n";
  Recorder whole;
  {
    Parser p(HTTP_REQUEST, &whole, &kDefaultLimits);
    ASSERT_EQ(FeedAll(p, data), ParseStatus::paused);
  }
  ASSERT_EQ(whole.messages.size(), 2u);
  EXPECT_EQ(whole.messages[0], ExpectedSimpleGet());
  EXPECT_EQ(whole.messages[1].body, "hello!");
  EXPECT_TRUE(whole.messages[1].chunked);

  for (size_t split = 1; split < data.size(); ++split) {
    Recorder r;
    Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
    EXPECT_EQ(FeedChunks(p, data, {split}), ParseStatus::paused) << "split at " << split;
    EXPECT_EQ(r.messages, whole.messages) << "split at " << split;
  }
  {
    Recorder r;
    Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
    EXPECT_EQ(FeedBytewise(p, data), ParseStatus::paused);
    EXPECT_EQ(r.messages, whole.messages);
  }
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    std::vector<size_t> chunks;
    for (size_t total = 0; total < data.size();) {
      size_t n = std::uniform_int_distribution<size_t>(1, 17)(rng);
      chunks.push_back(n);
      total += n;
    }
    Recorder r;
    Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
    EXPECT_EQ(FeedChunks(p, data, chunks), ParseStatus::paused) << "round " << round;
    EXPECT_EQ(r.messages, whole.messages) << "round " << round;
  }
}

TEST(HttpParser, BodyWithContentLength) {
  ParseStatus st;
  Message m = ParseOneRequest(
      "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world", &st);
  EXPECT_EQ(st, ParseStatus::paused);
  EXPECT_EQ(m.method, HTTP_POST);
  EXPECT_EQ(m.content_length, 11);
  EXPECT_FALSE(m.chunked);
  EXPECT_EQ(m.body, "hello world");
  EXPECT_TRUE(m.complete);
}

TEST(HttpParser, ContentLengthZeroCompletesAtHead) {
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  std::string_view data = "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
  size_t consumed = 0;
  EXPECT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::paused);
  EXPECT_EQ(consumed, data.size());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].content_length, 0);
  EXPECT_TRUE(r.messages[0].complete);
  EXPECT_EQ(r.body_calls, 0);
}

TEST(HttpParser, ChunkedBodyIsDecoded) {
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  std::string_view data =
      "PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nWiki\r\nA\r\npedia in\r\n\r\n0E;name=value\r\n chunks.abcdef\r\n0\r\n\r\n";
  size_t consumed = 0;
  EXPECT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::paused);
  EXPECT_EQ(consumed, data.size());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_TRUE(r.messages[0].chunked);
  EXPECT_EQ(r.messages[0].content_length, -1);
  EXPECT_EQ(r.messages[0].body, "Wikipedia in\r\n chunks.abcdef");
  EXPECT_TRUE(r.messages[0].complete);
}

// Request trailers are not forwarded (nginx discards them) and must not grow the head: the
// session keeps string_views into the head's arena for the whole transaction.
TEST(HttpParser, ChunkedTrailersDoNotChangeTheHead) {
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  std::string_view head = "POST /t?q=1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  size_t consumed = 0;
  ASSERT_EQ(p.execute(head.data(), head.size(), &consumed), ParseStatus::ok);
  const size_t fields = p.head().field_count();
  const size_t bytes = p.head().bytes();
  std::string body =
      "3\r\nabc\r\n0\r\nAccept: text/html\r\nX-Trailer: " + std::string(200, 'v') + "\r\n\r\n";
  EXPECT_EQ(p.execute(body.data(), body.size(), &consumed), ParseStatus::paused);
  EXPECT_EQ(consumed, body.size());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].body, "abc");
  EXPECT_EQ(p.head().field_count(), fields);
  EXPECT_EQ(p.head().bytes(), bytes);
  EXPECT_EQ(p.head().get("Accept"), "");
  EXPECT_EQ(p.head().target(), "/t?q=1");
}

TEST(HttpParser, PipelinedRequestsPauseAfterEachMessage) {
  std::string first = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string second = "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz";
  std::string third = "GET /c HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string data = first + second + third;
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  size_t consumed = 0;
  ASSERT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::paused);
  EXPECT_EQ(consumed, first.size());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].target, "/a");
  EXPECT_EQ(p.head().target(), "/a");  // the head stays intact while paused

  p.resume();
  size_t offset = consumed;
  ASSERT_EQ(p.execute(data.data() + offset, data.size() - offset, &consumed), ParseStatus::paused);
  EXPECT_EQ(consumed, second.size());
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].target, "/b");
  EXPECT_EQ(r.messages[1].body, "xyz");

  p.resume();
  offset += consumed;
  ASSERT_EQ(p.execute(data.data() + offset, data.size() - offset, &consumed), ParseStatus::paused);
  EXPECT_EQ(consumed, third.size());
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[2].target, "/c");
  EXPECT_EQ(r.ends, 3);
}

TEST(HttpParser, NoPauseWhenOwnerDeclines) {
  std::string data = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
  Recorder r;
  r.pause = false;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  size_t consumed = 0;
  EXPECT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::ok);
  EXPECT_EQ(consumed, data.size());
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].target, "/b");
}

TEST(HttpParser, KeepAliveFromVersionAndConnection) {
  EXPECT_TRUE(ParseOneRequest("GET / HTTP/1.1\r\n\r\n").keep_alive);
  EXPECT_FALSE(ParseOneRequest("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
  Message m10 = ParseOneRequest("GET / HTTP/1.0\r\n\r\n");
  EXPECT_FALSE(m10.keep_alive);
  EXPECT_EQ(m10.minor, 0);
  EXPECT_TRUE(ParseOneRequest("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
}

TEST(HttpParser, WebSocketUpgradeRequestStopsAtTunnelData) {
  std::string head =
      "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  std::string data = head + "\x81\x05hello";
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  size_t consumed = 0;
  EXPECT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::upgraded);
  EXPECT_EQ(consumed, head.size());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_TRUE(r.messages[0].upgrade);
  EXPECT_EQ(r.messages[0].body, "");
  EXPECT_EQ(r.body_calls, 0);
}

TEST(HttpParser, UpgradeHeaderWithoutConnectionUpgradeIsNotAnUpgrade) {
  ParseStatus st;
  Message m = ParseOneRequest("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", &st);
  EXPECT_EQ(st, ParseStatus::paused);
  EXPECT_FALSE(m.upgrade);
}

// ------------------------------------------------------------------------------------------------
// Responses

TEST(HttpParser, ResponseWithContentLength) {
  Recorder r;
  Parser p(HTTP_RESPONSE, &r, &kDefaultLimits);
  std::string_view data = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nServer: up\r\n\r\nnop";
  size_t consumed = 0;
  EXPECT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::paused);
  EXPECT_EQ(consumed, data.size());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].status, 404);
  EXPECT_EQ(r.messages[0].reason, "Not Found");
  EXPECT_EQ(r.messages[0].body, "nop");
}

TEST(HttpParser, HeadResponseHasNoBody) {
  std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  std::string second = "HTTP/1.1 204 No Content\r\n\r\n";
  std::string data = first + second;
  Recorder r;
  Parser p(HTTP_RESPONSE, &r, &kDefaultLimits);
  p.set_no_body_expected(true);
  size_t consumed = 0;
  EXPECT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::paused);
  EXPECT_EQ(consumed, first.size());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].content_length, 5);  // announced, not read
  EXPECT_TRUE(r.messages[0].complete);
  EXPECT_EQ(r.body_calls, 0);
}

TEST(HttpParser, WithoutNoBodyTheSameBytesAreABody) {
  std::string data = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/";
  Recorder r;
  Parser p(HTTP_RESPONSE, &r, &kDefaultLimits);
  EXPECT_EQ(FeedAll(p, data), ParseStatus::paused);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].body, "HTTP/");
}

TEST(HttpParser, InterimResponsesThenFinal) {
  std::string data =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  Recorder r;
  r.pause = false;
  Parser p(HTTP_RESPONSE, &r, &kDefaultLimits);
  size_t consumed = 0;
  EXPECT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::ok);
  EXPECT_EQ(consumed, data.size());
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].status, 100);
  EXPECT_EQ(r.messages[0].body, "");
  EXPECT_TRUE(r.messages[0].complete);
  EXPECT_EQ(r.messages[1].status, 103);
  ASSERT_EQ(r.messages[1].headers.size(), 1u);
  EXPECT_EQ(r.messages[1].headers[0].second, "</s.css>; rel=preload");
  EXPECT_EQ(r.messages[2].status, 200);
  EXPECT_EQ(r.messages[2].body, "ok");
  EXPECT_EQ(p.head().status, 200);
}

TEST(HttpParser, SwitchingProtocolsResponseIsUpgraded) {
  std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  std::string data = head + "\x81\x02hi";
  Recorder r;
  Parser p(HTTP_RESPONSE, &r, &kDefaultLimits);
  size_t consumed = 0;
  EXPECT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::upgraded);
  EXPECT_EQ(consumed, head.size());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].status, 101);
  EXPECT_TRUE(r.messages[0].upgrade);
  EXPECT_EQ(r.body_calls, 0);
}

TEST(HttpParser, CloseDelimitedResponseEndsAtFinish) {
  Recorder r;
  Parser p(HTTP_RESPONSE, &r, &kDefaultLimits);
  std::string_view part1 = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc";
  std::string_view part2 = "def";
  size_t consumed = 0;
  EXPECT_EQ(p.execute(part1.data(), part1.size(), &consumed), ParseStatus::ok);
  EXPECT_EQ(p.execute(part2.data(), part2.size(), &consumed), ParseStatus::ok);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_FALSE(r.messages[0].complete);
  EXPECT_FALSE(r.messages[0].keep_alive);
  EXPECT_EQ(p.finish(), ParseStatus::ok);
  EXPECT_TRUE(r.messages[0].complete);
  EXPECT_EQ(r.messages[0].body, "abcdef");
  EXPECT_EQ(r.ends, 1);
}

TEST(HttpParser, TruncatedBodyIsAnErrorAtFinish) {
  Recorder r;
  Parser p(HTTP_RESPONSE, &r, &kDefaultLimits);
  std::string_view data = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  size_t consumed = 0;
  EXPECT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::ok);
  EXPECT_EQ(p.finish(), ParseStatus::error);
  EXPECT_EQ(p.error(), HPE_INVALID_EOF_STATE);
  EXPECT_EQ(r.ends, 0);
}

TEST(HttpParser, FinishBetweenMessagesIsClean) {
  Recorder r;
  Parser p(HTTP_RESPONSE, &r, &kDefaultLimits);
  std::string_view data = "HTTP/1.1 204 No Content\r\n\r\n";
  size_t consumed = 0;
  ASSERT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::paused);
  p.resume();
  EXPECT_EQ(p.finish(), ParseStatus::ok);
  EXPECT_EQ(r.ends, 1);
}

TEST(HttpParser, OnHeadRejectionAbortsWithUserError) {
  Recorder r;
  r.head_rc = 7;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  std::string_view data = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  size_t consumed = 0;
  EXPECT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::error);
  EXPECT_EQ(p.error(), HPE_USER);  // as parser.h documents
  EXPECT_EQ(r.ends, 0);
}

// ------------------------------------------------------------------------------------------------
// Limits

Limits SmallLimits() {
  Limits l;
  l.max_request_line = 64;
  l.max_header_line = 64;
  l.max_header_bytes = 256;
  return l;
}

TEST(HttpParser, RequestTargetAtTheLimitIsAccepted) {
  Limits limits = SmallLimits();
  std::string target = "/" + std::string(63, 'a');
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &limits);
  EXPECT_EQ(FeedAll(p, "GET " + target + " HTTP/1.1\r\n\r\n"), ParseStatus::paused);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].target, target);
}

TEST(HttpParser, RequestTargetOverTheLimitIs414) {
  Limits limits = SmallLimits();
  std::string data = "GET /" + std::string(64, 'a') + " HTTP/1.1\r\n\r\n";
  Rejection rej = Reject(data, limits);
  EXPECT_EQ(rej.status, ParseStatus::error);
  EXPECT_EQ(rej.error, HPE_USER);
  EXPECT_EQ(rej.http_status, 414);
  // Split byte by byte the limit still trips (the target arrives in many callbacks).
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &limits);
  EXPECT_EQ(FeedBytewise(p, data), ParseStatus::error);
  EXPECT_EQ(p.error_status(), 414);
}

TEST(HttpParser, HeaderLineOverTheLimitIs400) {
  Limits limits = SmallLimits();
  std::string ok = "GET / HTTP/1.1\r\nX-Ok: " + std::string(40, 'v') + "\r\n\r\n";
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &limits);
  EXPECT_EQ(FeedAll(p, ok), ParseStatus::paused);

  std::string data = "GET / HTTP/1.1\r\nHost: a\r\nCookie: " + std::string(100, 'c') + "\r\n\r\n";
  Rejection rej = Reject(data, limits);
  EXPECT_EQ(rej.status, ParseStatus::error);
  EXPECT_EQ(rej.http_status, 400);
  EXPECT_EQ(rej.reason, "Request header or cookie too large");

  // A long header name counts too.
  Rejection name = Reject("GET / HTTP/1.1\r\nX-" + std::string(100, 'n') + ": v\r\n\r\n", limits);
  EXPECT_EQ(name.status, ParseStatus::error);
  EXPECT_EQ(name.http_status, 400);
  EXPECT_EQ(name.reason, "Request header or cookie too large");

  Recorder r2;
  Parser p2(HTTP_REQUEST, &r2, &limits);
  EXPECT_EQ(FeedBytewise(p2, data), ParseStatus::error);
  EXPECT_EQ(p2.error_status(), 400);
  EXPECT_TRUE(r2.messages.empty());
}

TEST(HttpParser, ManyShortLinesDoNotTripTheLineLimit) {
  Limits limits = SmallLimits();
  limits.max_header_bytes = 4096;
  std::string data = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 20; ++i)
    data += "X-H" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
  data += "\r\n";
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &limits);
  EXPECT_EQ(FeedAll(p, data), ParseStatus::paused);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].headers.size(), 20u);
}

TEST(HttpParser, WholeHeadOverTheLimitIs400) {
  Limits limits = SmallLimits();
  std::string data = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 10; ++i)
    data += "X-H" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
  data += "\r\n";
  Rejection rej = Reject(data, limits);
  EXPECT_EQ(rej.status, ParseStatus::error);
  EXPECT_EQ(rej.http_status, 400);
  EXPECT_EQ(rej.reason, "Request header or cookie too large");
}

// ------------------------------------------------------------------------------------------------
// Rejections (request smuggling). llhttp 8.1 runs with no lenient flags set (Debian's sources
// are built without LLHTTP_STRICT_MODE, whose URL rules would refuse raw UTF-8 paths that nginx
// takes; the parser wrapper adds what the loose build skips).

void ExpectRejected(std::string_view data, llhttp_errno_t want) {
  Rejection rej = Reject(data);
  EXPECT_EQ(rej.status, ParseStatus::error) << data;
  EXPECT_EQ(rej.error, want) << data << " -> " << rej.reason;
  EXPECT_EQ(rej.http_status, 400) << data;
  EXPECT_FALSE(rej.reason.empty());
}

TEST(HttpParser, RejectsContentLengthWithChunked) {
  // nginx (>= 1.21.1) rejects this combination with 400 as well.
  ExpectRejected(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n",
      HPE_UNEXPECTED_CONTENT_LENGTH);
  ExpectRejected(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
      "0\r\n\r\n",
      HPE_UNEXPECTED_CONTENT_LENGTH);
}

TEST(HttpParser, RejectsConflictingContentLengths) {
  ExpectRejected("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                 HPE_UNEXPECTED_CONTENT_LENGTH);
}

TEST(HttpParser, RejectsBadContentLength) {
  ExpectRejected("POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\nhello", HPE_INVALID_CONTENT_LENGTH);
  ExpectRejected("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", HPE_INVALID_CONTENT_LENGTH);
}

TEST(HttpParser, RejectsInvalidChunkSize) {
  ExpectRejected("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                 HPE_INVALID_CHUNK_SIZE);
  ExpectRejected("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n",
                 HPE_INVALID_CHUNK_SIZE);
}

TEST(HttpParser, RejectsRequestTransferEncodingNotEndingInChunked) {
  // llhttp's own error; nginx answers 501 (it reads no coding but "chunked").
  Rejection rej = Reject("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc");
  EXPECT_EQ(rej.status, ParseStatus::error);
  EXPECT_EQ(rej.error, HPE_INVALID_TRANSFER_ENCODING);
  EXPECT_EQ(rej.http_status, 501);
}

// ------------------------------------------------------------------------------------------------
// What the loose llhttp build lets through and nginx 1.22 refuses (tests/integration/
// test_smuggling.py sends the same bytes to both).

// Feeds `data` whole, in two at every split point and byte by byte; every way must end in the
// same error status (0: no error, the message was read).
void ExpectStatusAtEverySplit(std::string_view data, int want, llhttp_type_t type = HTTP_REQUEST) {
  auto run = [&](const std::vector<size_t>& chunks) {
    Recorder r;
    Parser p(type, &r, &kDefaultLimits);
    ParseStatus st = FeedChunks(p, data, chunks);
    return st == ParseStatus::error ? p.error_status() : 0;
  };
  EXPECT_EQ(run({}), want) << data;
  EXPECT_EQ(run(std::vector<size_t>(data.size(), 1)), want) << "bytewise: " << data;
  for (size_t split = 1; split < data.size(); ++split) {
    EXPECT_EQ(run({split}), want) << "split at " << split << ": " << data;
  }
}

TEST(HttpParser, ChunkDataMustBeFollowedByCrlf) {
  // The loose build skips the two bytes after a chunk's data unread: "3\r\nabcXY0\r\n\r\n" was a
  // complete request with body "abc" (a desync with any front end that reads it as nginx does).
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n", 400);
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX0\r\n\r\n", 400);
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n\r0\r\n\r\n", 400);
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
      0);
  // Responses too (the upstream side reads with the same parser).
  ExpectStatusAtEverySplit(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n", 400,
      HTTP_RESPONSE);
  ExpectStatusAtEverySplit(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 0,
      HTTP_RESPONSE);
}

TEST(HttpParser, BadChunkTerminatorStopsBeforeTheDataIsDelivered) {
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  EXPECT_EQ(FeedAll(p, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n"),
            ParseStatus::error);
  EXPECT_EQ(r.body_calls, 0);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_FALSE(r.messages[0].complete);
}

TEST(HttpParser, ContentLengthBeyondInt64IsRejected) {
  // 2^63 and 2^64-1 fit llhttp's uint64_t; as int64_t they were negative ("no body"), so the
  // bytes after the head were read as the next request.
  for (std::string_view cl : {"9223372036854775808", "18446744073709551615"}) {
    std::string data = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::string(cl) +
                       "\r\n\r\nGET /hidden HTTP/1.1\r\nHost: a\r\n\r\n";
    Recorder r;
    Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
    EXPECT_EQ(FeedAll(p, data), ParseStatus::error) << cl;
    EXPECT_EQ(p.error_status(), 400);
    EXPECT_TRUE(r.messages.empty()) << "the head must not be announced";
    Rejection resp = Reject("HTTP/1.1 200 OK\r\nContent-Length: " + std::string(cl) + "\r\n\r\n",
                            kDefaultLimits, HTTP_RESPONSE);
    EXPECT_EQ(resp.status, ParseStatus::error) << cl;
  }
  // nginx's largest (off_t): accepted, the body is then awaited.
  Message m = ParseOneRequest("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\nab");
  EXPECT_EQ(m.content_length, INT64_MAX);
  EXPECT_FALSE(m.complete);
}

TEST(HttpParser, ChunkSizeOverNginxLimitIsRejected) {
  // nginx: size > NGX_MAX_OFF_T_VALUE / 16 is invalid (400); llhttp takes up to 2^64 - 1.
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800000000000000\r\nabc", 400);
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc", 400);
  Rejection big =
      Reject("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\n");
  EXPECT_EQ(big.http_status, 400);
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7ffffffffffffff\r\nabc", 0);
}

TEST(HttpParser, TransferEncodingOtherThanChunkedIs501) {
  // nginx takes exactly "chunked" (case-insensitive, spaces around it) and answers 501 to any
  // other value; llhttp reads "gzip, chunked" and "identity, chunked" as chunked.
  for (std::string_view te :
       {"gzip, chunked", "identity, chunked", "xchunked", "identity", "", "chunked, identity",
        "\"chunked\"", "chunked;q=1", "chunked,chunked", "chunked\t"}) {
    ExpectStatusAtEverySplit("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + std::string(te) +
                                 "\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                             501);
  }
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\nhello",
      501);
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: identity\r\n\r\nhello",
      501);
  for (std::string_view te : {"chunked", "CHUNKED", "Chunked  "}) {
    ExpectStatusAtEverySplit("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + std::string(te) +
                                 "\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                             0);
  }
}

TEST(HttpParser, TabAroundFramingValuesIsNotWhitespaceForNginx) {
  // nginx skips only spaces around a header value, so a tab is part of it: "<TAB>chunked" is an
  // unknown coding (501) and "<TAB>5" no number (400). llhttp skips the tab silently, so the
  // parser looks back for it, also when it arrived in an earlier read.
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      501);
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \t chunked\r\n\r\n0\r\n\r\n", 501);
  ExpectStatusAtEverySplit("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\t5\r\n\r\nhello", 400);
  ExpectStatusAtEverySplit("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\t\r\n\r\nhello", 400);
  // Elsewhere a tab before a value stays harmless whitespace.
  Message m = ParseOneRequest("GET / HTTP/1.1\r\nHost: a\r\nX-A:\tv\r\n\r\n");
  ASSERT_EQ(m.headers.size(), 2u);
  EXPECT_EQ(m.headers[1].second, "v");
}

TEST(HttpParser, TransferEncodingDuplicatesAndHttp10Are400) {
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n"
      "\r\n5\r\nhello\r\n0\r\n\r\n",
      400);
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
      "Transfer-Encoding: chunked, x\r\n\r\n0\r\n\r\n",
      400);
  ExpectStatusAtEverySplit(
      "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      400);
  ExpectStatusAtEverySplit("POST / HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400);
}

TEST(HttpParser, InvalidHostIs400) {
  // nginx's ngx_http_validate_host.
  for (std::string_view host : {"a b", "a/b", "", ":80", "a..b", "\tx", "x\t", "a\x01"}) {
    ExpectStatusAtEverySplit("GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n", 400);
  }
  ExpectStatusAtEverySplit("GET / HTTP/1.0\r\nHost: \r\n\r\n", 400);
  for (std::string_view host :
       {"a_b", "a.", "a\\b", "\xc3\xa9.test", "u@a", "[::1]:80", "a:8000", "x  "}) {
    ExpectStatusAtEverySplit("GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n", 0);
  }
}

TEST(HttpParser, AbsoluteFormTargetsNginxCannotParseAre400) {
  for (std::string_view target :
       {"http://user@a.test/x", "http://a_b.test/x", "http://a.test:80x/x", "http:///x",
        "http://a..b/x", "https://a b/x", "http://[::1/x"}) {
    Rejection rej = Reject("GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(rej.status, ParseStatus::error) << target;
    EXPECT_EQ(rej.http_status, 400) << target;
  }
  for (std::string_view target : {"http://a.test/x", "https://A-1.test:8443/x?y", "http://a.test",
                                  "http://a.test?q=1", "http://[::1]:80/x"}) {
    Message m = ParseOneRequest("GET " + std::string(target) + " HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(m.target, target);
    EXPECT_TRUE(m.complete) << target;
  }
}

TEST(HttpParser, HttpVersionsAboveOneAre505) {
  for (std::string_view version : {"HTTP/2.0", "HTTP/3.0"}) {
    Rejection rej = Reject("GET / " + std::string(version) + "\r\nHost: a\r\n\r\n");
    EXPECT_EQ(rej.status, ParseStatus::error) << version;
    EXPECT_EQ(rej.http_status, 505) << version;
  }
  // HTTP/1.2 is refused by llhttp (nginx would read it as 1.1): 400.
  EXPECT_EQ(Reject("GET / HTTP/1.2\r\nHost: a\r\n\r\n").http_status, 400);
}

TEST(HttpParser, RejectsObsFold) {
  // A header continuation line (obs-fold, RFC 7230 §3.2.4). nginx >= 1.21.1 (all Kong 3.x
  // OpenResty builds) answers 400 "client sent invalid header line"; Kong therefore rejects it.
  Rejection rej = Reject("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n");
  EXPECT_EQ(rej.status, ParseStatus::error) << rej.reason;
  EXPECT_EQ(rej.http_status, 400);
  Rejection te = Reject("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(te.status, ParseStatus::error) << te.reason;
}

TEST(HttpParser, RejectsSpaceBeforeColon) {
  ExpectRejected("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello",
                 HPE_INVALID_HEADER_TOKEN);
}

TEST(HttpParser, RejectsEmptyOrInvalidHeaderNames) {
  for (std::string_view data : {std::string_view("GET / HTTP/1.1\r\n: v\r\n\r\n"),
                                std::string_view("GET / HTTP/1.1\r\nX(A): v\r\n\r\n"),
                                std::string_view("GET / HTTP/1.1\r\nX@A: v\r\n\r\n")}) {
    Rejection rej = Reject(data);
    EXPECT_EQ(rej.status, ParseStatus::error) << data;
    EXPECT_EQ(rej.http_status, 400) << data;
  }
}

TEST(HttpParser, RejectsNulInHeaderValue) {
  static constexpr char kData[] = "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
  ExpectRejected(std::string_view(kData, sizeof(kData) - 1), HPE_INVALID_HEADER_TOKEN);
}

TEST(HttpParser, RejectsGarbageRequestLine) {
  ExpectRejected("GARBAGE\r\n\r\n", HPE_INVALID_METHOD);
  ExpectRejected("GET / HTTP/1.1 extra\r\n\r\n", HPE_INVALID_VERSION);
}

TEST(HttpParser, BareLineFeedAfterAHeaderValueIsRejected) {
  // llhttp 8.1 in strict mode rejects a bare LF ending a header line ("Invalid header value
  // char"); nginx accepts LF-only line endings, so this is stricter than Kong (and safe: no
  // request is read differently, some are refused).
  ExpectRejected("GET /lf HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n", HPE_INVALID_HEADER_TOKEN);
  ExpectRejected("GET /lf HTTP/1.1\nHost: a\nX-A: 1\n\n", HPE_INVALID_HEADER_TOKEN);
}

TEST(HttpParser, BareLineFeedEndingTheHeadIsAccepted) {
  // The empty line that ends the head may be a bare LF (llhttp 8.1 and nginx agree).
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  std::string_view data = "GET /lf HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\nGET /next HTTP/1.1\r\n\r\n";
  size_t consumed = 0;
  EXPECT_EQ(p.execute(data.data(), data.size(), &consumed), ParseStatus::paused);
  EXPECT_EQ(consumed, data.find("GET /next"));
  ASSERT_EQ(r.messages.size(), 1u);
  std::vector<std::pair<std::string, std::string>> want = {{"Host", "a"}, {"X-A", "1"}};
  EXPECT_EQ(r.messages[0].headers, want);
}

// ------------------------------------------------------------------------------------------------
// reset()

TEST(HttpParser, ResetAfterErrorParsesAFreshMessage) {
  Limits limits = SmallLimits();
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &limits);
  std::string bad = "GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n";
  ASSERT_EQ(FeedAll(p, bad), ParseStatus::error);
  ASSERT_EQ(p.error_status(), 414);
  p.reset();
  EXPECT_EQ(p.error(), HPE_OK);
  EXPECT_EQ(p.error_status(), 400);
  EXPECT_EQ(p.error_reason(), "");
  EXPECT_FALSE(p.message_started());
  EXPECT_EQ(FeedAll(p, "GET /ok HTTP/1.1\r\n\r\n"), ParseStatus::paused);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].target, "/ok");
}

TEST(HttpParser, ResetMidMessageDropsIt) {
  Recorder r;
  Parser p(HTTP_REQUEST, &r, &kDefaultLimits);
  ASSERT_EQ(FeedAll(p, "POST /a HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial"), ParseStatus::ok);
  p.reset();
  EXPECT_EQ(FeedAll(p, "GET /b HTTP/1.1\r\n\r\n"), ParseStatus::paused);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].target, "/b");
  EXPECT_EQ(r.messages[1].method, HTTP_GET);
  EXPECT_EQ(r.messages[0].body, "partial");
}

TEST(HttpParser, ResetClearsNoBodyExpected) {
  Recorder r;
  Parser p(HTTP_RESPONSE, &r, &kDefaultLimits);
  p.set_no_body_expected(true);
  ASSERT_EQ(FeedAll(p, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"), ParseStatus::paused);
  p.reset();
  EXPECT_EQ(FeedAll(p, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), ParseStatus::paused);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].body, "");
  EXPECT_EQ(r.messages[1].body, "ok");
}

}  // namespace
