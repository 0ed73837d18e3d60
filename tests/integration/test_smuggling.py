"""Request smuggling (issue 6): every known framing desync, sent as raw bytes through the real
binary to a real upstream that records every byte. For each variant the upstream must receive
exactly the requests the client meant -- same method, target and body, each framed once and
read back by a strict parser with no byte left over -- or none at all, and the client must get
the status nginx 1.22 (Kong's core) gives for the same bytes: 400, 501 for a Transfer-Encoding
nginx does not read, 505 for HTTP/2+ request lines, 408 (or a silent close) when the body never
ends.

The table runs through Silverback and, in parallel, through a private nginx configured like
Kong's proxy (client_max_body_size 0, HTTP/1.1 upstream keep-alive), so every "as nginx" here is
checked on each run rather than remembered. The few cases where Silverback is deliberately
stricter than nginx carry nginx's outcome and the reason. (test_hygiene.py covers the error
bodies, size limits and slow clients; this module is about framing.)"""

import concurrent.futures
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (LOOPBACK, GatewayTestCase, RawClient, Reply, class_upstream, echo_reply,
                     free_port, http_response, request, start_class_gateway)

CONFIG = """_format_version: "3.0"
services:
  - name: s
    url: http://{ip}:{port}
    routes:
      - name: all
        paths: [/]
        strip_path: false
"""

# The client's bytes are complete in every case; a gateway still waiting after this long for
# more of a body answers 408 or closes (both proxies run with 500 ms body/header timeouts).
TIMEOUT = "timeout"
SENTINEL = "/sentinel-after-case"


class Case:
    """raw: the client's bytes. statuses: what the client gets, in order (TIMEOUT: nothing but
    408 or a close once the body timeout fires). forwarded: (method, target, body) the upstream
    must receive. nginx: (statuses, forwarded) when nginx 1.22 differs, with `why`."""

    def __init__(self, name, raw, statuses, forwarded=(), nginx=None, why=""):
        self.name = name
        self.raw = raw
        self.statuses = statuses if isinstance(statuses, list) or statuses == TIMEOUT \
            else [statuses]
        self.forwarded = [tuple(f) for f in forwarded]
        self.nginx = nginx
        self.why = why
        assert (nginx is None) == (why == ""), name


def post(headers, body=b"", target=b"/a", version=b"HTTP/1.1"):
    return b"POST " + target + b" " + version + b"\r\nHost: x\r\n" + headers + b"\r\n" + body


CHUNKED_HELLO = b"5\r\nhello\r\n0\r\n\r\n"
HIDDEN = b"GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n"
SECOND = b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n"
HELLO = ("POST", "/a", b"hello")
GET_A = ("GET", "/a", b"")
GET_SECOND = ("GET", "/second", b"")
NGINX_FORWARDS_HELLO = ([200], [HELLO])
NGINX_FORWARDS_GET_A = ([200], [GET_A])
WS_HEADERS = (b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
UPGRADE_CLOSES = ("Silverback answers an Upgrade request it does not tunnel (not WebSocket, or "
                  "refused by the upstream) and closes: the bytes after it were meant for "
                  "another protocol. nginx goes on parsing them as HTTP.")
BARE_LF = ("bare LF line endings: RFC 9112 §2.2 lets a server accept them, nginx does, llhttp "
           "refuses them. Stricter, never read differently.")
CTL = "llhttp refuses control characters in header values; nginx forwards them"

CASES = [
    # -- CL.TE / TE.CL
    Case("CL.TE", post(b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\nG"), 400),
    Case("TE.CL", post(b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                       b"8\r\nSMUGGLED\r\n0\r\n\r\n"), 400),
    Case("CL.TE on GET", b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    Case("TE.CL with Expect", post(b"Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n"
                                   b"Content-Length: 3\r\n", b"0\r\n\r\n"), 400),
    # -- TE.TE: obfuscated Transfer-Encoding. nginx reads exactly "chunked" (any case, spaces
    # around it) and answers 501 to anything else; llhttp alone took "x, chunked".
    Case("TE 'chunked ' (trailing space)", post(b"Transfer-Encoding: chunked \r\n", CHUNKED_HELLO),
         200, [HELLO]),
    Case("TE upper case", b"POST /a HTTP/1.1\r\nHost: x\r\nTRANSFER-ENCODING: CHUNKED\r\n\r\n"
         + CHUNKED_HELLO, 200, [HELLO]),
    Case("TE xchunked", post(b"Transfer-Encoding: xchunked\r\n", CHUNKED_HELLO), 501),
    Case("TE xchunked + CL", post(b"Content-Length: 4\r\nTransfer-Encoding: xchunked\r\n",
                                  CHUNKED_HELLO), 501),
    Case("TE xchunked + CL 0 hiding a request",
         post(b"Transfer-Encoding: xchunked\r\nContent-Length: 0\r\n", HIDDEN), 501),
    Case("TE 'chunked, identity'", post(b"Transfer-Encoding: chunked, identity\r\n",
                                        CHUNKED_HELLO), 501),
    Case("TE 'identity, chunked'", post(b"Transfer-Encoding: identity, chunked\r\n",
                                        CHUNKED_HELLO), 501),
    Case("TE 'gzip, chunked'", post(b"Transfer-Encoding: gzip, chunked\r\n", CHUNKED_HELLO), 501),
    Case("TE 'chunked,chunked'", post(b"Transfer-Encoding: chunked,chunked\r\n", CHUNKED_HELLO),
         501),
    Case("TE identity + CL", post(b"Transfer-Encoding: identity\r\nContent-Length: 5\r\n",
                                  b"hello"), 501),
    Case("TE empty", post(b"Transfer-Encoding: \r\n"), 501),
    Case("TE empty + CL", post(b"Transfer-Encoding: \r\nContent-Length: 5\r\n", b"hello"), 501),
    Case("TE quoted", post(b'Transfer-Encoding: "chunked"\r\n', CHUNKED_HELLO), 501),
    Case("TE with parameter", post(b"Transfer-Encoding: chunked;q=1\r\n", CHUNKED_HELLO), 501),
    Case("TE tab before value", post(b"Transfer-Encoding:\tchunked\r\n", CHUNKED_HELLO), 501),
    Case("TE tab after value", post(b"Transfer-Encoding: chunked\t\r\n", CHUNKED_HELLO), 501),
    Case("TE vertical tab", post(b"Transfer-Encoding: \x0bchunked\r\n", CHUNKED_HELLO), 400,
         nginx=([501], []), why=CTL),
    Case("TE duplicate chunked/identity", post(b"Transfer-Encoding: chunked\r\n"
                                               b"Transfer-Encoding: identity\r\n", CHUNKED_HELLO),
         400),
    Case("TE duplicate identity/chunked", post(b"Transfer-Encoding: identity\r\n"
                                               b"Transfer-Encoding: chunked\r\n", CHUNKED_HELLO),
         400),
    Case("TE duplicate chunked/chunked", post(b"Transfer-Encoding: chunked\r\n"
                                              b"Transfer-Encoding: chunked\r\n", CHUNKED_HELLO),
         400),
    Case("TE space before colon", post(b"Transfer-Encoding : chunked\r\n", CHUNKED_HELLO), 400),
    Case("TE space before colon + CL", post(b"Content-Length: 4\r\nTransfer-Encoding : chunked\r\n",
                                            CHUNKED_HELLO), 400),
    Case("TE folded (obs-fold)", post(b"Transfer-Encoding: identity\r\n chunked\r\n",
                                      CHUNKED_HELLO), 400),
    Case("TE on HTTP/1.0", post(b"Transfer-Encoding: chunked\r\n", CHUNKED_HELLO,
                                version=b"HTTP/1.0"), 400),
    Case("TE on HTTP/1.0 + CL", post(b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
                                     CHUNKED_HELLO, version=b"HTTP/1.0"), 400),
    # -- Content-Length
    Case("CL duplicate identical", post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"),
         400),
    Case("CL duplicate conflicting", post(b"Content-Length: 5\r\nContent-Length: 6\r\n",
                                          b"hello!"), 400),
    Case("CL list", post(b"Content-Length: 5, 5\r\n", b"hello"), 400),
    Case("CL +5", post(b"Content-Length: +5\r\n", b"hello"), 400),
    Case("CL -1", post(b"Content-Length: -1\r\n", b"hello"), 400),
    Case("CL 0x5", post(b"Content-Length: 0x5\r\n", b"hello"), 400),
    Case("CL '5 0'", post(b"Content-Length: 5 0\r\n", b"hello"), 400),
    Case("CL empty", post(b"Content-Length: \r\n", b"hello"), 400),
    Case("CL space before colon", post(b"Content-Length : 5\r\n", b"hello"), 400),
    Case("CL tab before value", post(b"Content-Length:\t5\r\n", b"hello"), 400),
    Case("CL tab after value", post(b"Content-Length: 5\t\r\n", b"hello"), 400),
    Case("CL folded", post(b"Content-Length:\r\n 5\r\n", b"hello"), 400),
    Case("CL leading zero", post(b"Content-Length: 05\r\n", b"hello"), 200, [HELLO]),
    Case("CL trailing space", post(b"Content-Length: 5 \r\n", b"hello"), 200, [HELLO]),
    Case("CL 2^63 hiding a request", post(b"Content-Length: 9223372036854775808\r\n", HIDDEN), 400),
    Case("CL 2^64-1 hiding a request", post(b"Content-Length: 18446744073709551615\r\n", HIDDEN),
         400),
    Case("CL 2^64", post(b"Content-Length: 18446744073709551616\r\n", b"hello"), 400),
    Case("CL 26 digits", post(b"Content-Length: 99999999999999999999999999\r\n", b"hello"), 400),
    Case("CL 2^63-1 (valid, never completes)", post(b"Content-Length: 9223372036854775807\r\n",
                                                    b"hello"), TIMEOUT),
    # -- header syntax
    Case("obs-fold", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
    Case("first header line folded", b"GET /a HTTP/1.1\r\n X-A: b\r\nHost: x\r\n\r\n", 400),
    Case("space before colon", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", 400),
    Case("header without colon", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A b\r\n\r\n", 400),
    Case("duplicate Host", b"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    Case("duplicate Host, other case", b"GET /a HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400),
    Case("Host space before colon", b"GET /a HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    Case("Host with space", b"GET /a HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    Case("Host with slash", b"GET /a HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    Case("Host empty", b"GET /a HTTP/1.1\r\nHost: \r\n\r\n", 400),
    Case("Host '..'", b"GET /a HTTP/1.1\r\nHost: a..b\r\n\r\n", 400),
    Case("Host port only", b"GET /a HTTP/1.1\r\nHost: :80\r\n\r\n", 400),
    Case("Host empty on HTTP/1.0", b"GET /a HTTP/1.0\r\nHost: \r\n\r\n", 400),
    Case("Host with @ (valid for nginx)", b"GET /a HTTP/1.1\r\nHost: a@b\r\n\r\n", 200, [GET_A]),
    Case("bare LF line endings", b"GET /a HTTP/1.1\nHost: x\n\n", 400,
         nginx=NGINX_FORWARDS_GET_A, why=BARE_LF),
    Case("bare LF after a header", b"GET /a HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 400,
         nginx=NGINX_FORWARDS_GET_A, why=BARE_LF),
    Case("bare CR in a value", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400),
    Case("bare CR line endings", b"GET /a HTTP/1.1\rHost: x\r\r", 400),
    Case("NUL in a name", b"GET /a HTTP/1.1\r\nHost: x\r\nX-\x00A: b\r\n\r\n", 400),
    Case("NUL in a value", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
    Case("NUL in the target", b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("control character in a value", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
         400, nginx=NGINX_FORWARDS_GET_A, why=CTL),
    Case("DEL in a value", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", 400,
         nginx=NGINX_FORWARDS_GET_A, why=CTL),
    # -- chunked bodies
    Case("chunk size 17 hex digits", post(b"Transfer-Encoding: chunked\r\n",
                                          b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400),
    Case("chunk size 2^64-1", post(b"Transfer-Encoding: chunked\r\n",
                                   b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400),
    Case("chunk size over nginx's limit", post(b"Transfer-Encoding: chunked\r\n",
                                               b"800000000000000\r\nhello"), 400),
    Case("chunk size leading zeros", post(b"Transfer-Encoding: chunked\r\n",
                                          b"00000000000000000005\r\nhello\r\n0\r\n\r\n"),
         200, [HELLO]),
    Case("chunk size leading space", post(b"Transfer-Encoding: chunked\r\n",
                                          b" 5\r\nhello\r\n0\r\n\r\n"), 400),
    Case("chunk size 0x", post(b"Transfer-Encoding: chunked\r\n", b"0x5\r\nhello\r\n0\r\n\r\n"),
         400),
    Case("chunk size +", post(b"Transfer-Encoding: chunked\r\n", b"+5\r\nhello\r\n0\r\n\r\n"), 400),
    Case("chunk size negative", post(b"Transfer-Encoding: chunked\r\n", b"-5\r\nhello\r\n0\r\n\r\n"),
         400),
    Case("chunk size trailing space", post(b"Transfer-Encoding: chunked\r\n",
                                           b"5 \r\nhello\r\n0\r\n\r\n"), 400,
         nginx=NGINX_FORWARDS_HELLO,
         why="nginx reads whitespace after a chunk size as the start of an extension; RFC 9112 "
             "has no whitespace there, llhttp refuses it"),
    Case("chunk extension after space", post(b"Transfer-Encoding: chunked\r\n",
                                             b"5 ;a=b\r\nhello\r\n0\r\n\r\n"), 400,
         nginx=NGINX_FORWARDS_HELLO, why="as above (BWS before ';' is refused by llhttp)"),
    Case("chunk extension", post(b"Transfer-Encoding: chunked\r\n",
                                 b"5;a=b\r\nhello\r\n0\r\n\r\n"), 200, [HELLO]),
    Case("chunk extensions, quoted", post(b"Transfer-Encoding: chunked\r\n",
                                          b'5;a="b c";d=e\r\nhello\r\n0\r\n\r\n'), 200, [HELLO]),
    Case("chunk extensions, unquoted", post(b"Transfer-Encoding: chunked\r\n",
                                            b"5;a=b;c=d\r\nhello\r\n0\r\n\r\n"), 400,
         nginx=NGINX_FORWARDS_HELLO,
         why="llhttp 8.1 refuses ';' after an unquoted extension value (fixed in later llhttp)"),
    Case("chunk extension of 1 MB", post(b"Transfer-Encoding: chunked\r\n",
                                         b"5;" + b"e" * 1000000 + b"\r\nhello\r\n0\r\n\r\n"),
         200, [HELLO]),
    Case("chunk extension with bare LF", post(b"Transfer-Encoding: chunked\r\n",
                                              b"5;a\nb\r\nhello\r\n0\r\n\r\n"), 400),
    Case("chunk data without CRLF", post(b"Transfer-Encoding: chunked\r\n",
                                         b"5\r\nhelloXX0\r\n\r\n"), 400),
    Case("chunk data CRLF replaced, hiding a request",
         post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabcXY0\r\n\r\n" + HIDDEN), 400),
    Case("chunked body with bare LF", post(b"Transfer-Encoding: chunked\r\n",
                                           b"5\nhello\n0\n\n"), 400,
         nginx=NGINX_FORWARDS_HELLO, why=BARE_LF),
    Case("trailers", post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"),
         200, [HELLO]),
    Case("last chunk without the final CRLF", post(b"Transfer-Encoding: chunked\r\n",
                                                   b"5\r\nhello\r\n0\r\n"), TIMEOUT),
    Case("trailer line without colon", post(b"Transfer-Encoding: chunked\r\n",
                                            b"5\r\nhello\r\n0\r\nX\r\n"), 400,
         nginx=(TIMEOUT, []),
         why="nginx keeps reading the trailer section; llhttp refuses the line at once"),
    # -- pipelining: a request inside a body stays body; one after it is a request
    Case("request inside a CL body", post(b"Content-Length: %d\r\n" % len(HIDDEN), HIDDEN), 200,
         [("POST", "/a", HIDDEN)]),
    Case("request inside a chunked body", post(b"Transfer-Encoding: chunked\r\n",
                                               b"%x\r\n" % len(HIDDEN) + HIDDEN + b"\r\n0\r\n\r\n"),
         200, [("POST", "/a", HIDDEN)]),
    Case("request after a CL body", post(b"Content-Length: 5\r\n", b"hello" + SECOND),
         [200, 200], [HELLO, GET_SECOND]),
    Case("request after a chunked body", post(b"Transfer-Encoding: chunked\r\n",
                                              CHUNKED_HELLO + SECOND), [200, 200],
         [HELLO, GET_SECOND]),
    Case("GET with a CL body", b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
         200, [("GET", "/a", b"hello")]),
    Case("GET with a chunked body", b"GET /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
         b"\r\n\r\n0\r\n\r\n", 200, [GET_A]),
    Case("HTTP/1.0 keep-alive, pipelined", b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
         b"GET /second HTTP/1.0\r\n\r\n", [200, 200], [GET_A, GET_SECOND]),
    Case("HTTP/1.0 without keep-alive, pipelined", b"GET /a HTTP/1.0\r\n\r\n"
         b"GET /second HTTP/1.0\r\n\r\n", 200, [GET_A]),
    Case("Connection: close, pipelined", b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close"
         b"\r\n\r\n" + SECOND, 200, [GET_A]),
    Case("CRLFs before a request", b"\r\n" * 20 + b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", 200,
         [GET_A]),
    # -- Connection: upgrade tricks (the upstream answers 200: it refuses every upgrade)
    Case("Connection: upgrade without Upgrade, pipelined",
         b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n" + SECOND, [200, 200],
         [GET_A, GET_SECOND]),
    Case("h2c upgrade, pipelined", b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, "
         b"HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n" + SECOND,
         200, [GET_A], nginx=([200, 200], [GET_A, GET_SECOND]), why=UPGRADE_CLOSES),
    Case("refused WebSocket upgrade, pipelined", b"GET /a HTTP/1.1\r\nHost: x\r\n" + WS_HEADERS
         + b"\r\n" + SECOND, 200, [GET_A], nginx=([200, 200], [GET_A, GET_SECOND]),
         why=UPGRADE_CLOSES),
    Case("upgrade with a body, pipelined", post(b"Connection: Upgrade\r\nUpgrade: foo\r\n"
                                                b"Content-Length: 5\r\n", b"hello" + SECOND),
         200, [HELLO], nginx=([200, 200], [HELLO, GET_SECOND]), why=UPGRADE_CLOSES),
    # -- request line and target
    Case("absolute-form, another host", b"GET http://other.test/abs HTTP/1.1\r\nHost: x\r\n\r\n",
         200, [("GET", "/abs", b"")]),
    Case("absolute-form https", b"GET https://other.test/abs HTTP/1.1\r\nHost: x\r\n\r\n", 200,
         [("GET", "/abs", b"")]),
    Case("absolute-form without path", b"GET http://other.test HTTP/1.1\r\nHost: x\r\n\r\n", 200,
         [("GET", "/", b"")]),
    Case("absolute-form with port", b"GET http://other.test:81/abs HTTP/1.1\r\nHost: x\r\n\r\n",
         200, [("GET", "/abs", b"")]),
    Case("absolute-form IPv6", b"GET http://[::1]:80/abs HTTP/1.1\r\nHost: x\r\n\r\n", 200,
         [("GET", "/abs", b"")]),
    Case("absolute-form then pipelined", b"GET http://evil.test/x HTTP/1.1\r\nHost: x\r\n\r\n"
         + SECOND, [200, 200], [("GET", "/x", b""), GET_SECOND]),
    Case("absolute-form with userinfo", b"GET http://user@other.test/abs HTTP/1.1\r\nHost: x"
         b"\r\n\r\n", 400),
    Case("absolute-form empty host", b"GET http:///abs HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("absolute-form host with _", b"GET http://a_b.test/abs HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("absolute-form host '..'", b"GET http://a..b/abs HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("absolute-form bad port", b"GET http://a.test:80x/abs HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("absolute-form other scheme", b"GET ftp://other.test/abs HTTP/1.1\r\nHost: x\r\n\r\n",
         400, nginx=([200], [("GET", "/abs", b"")]),
         why="Silverback takes only http:// and https:// absolute-form targets"),
    Case("HTTP/2.0 request line", b"GET /a HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    Case("HTTP/3.0 request line", b"GET /a HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    Case("HTTP/1.2 request line", b"GET /a HTTP/1.2\r\nHost: x\r\n\r\n", 400,
         nginx=NGINX_FORWARDS_GET_A, why="llhttp knows HTTP/1.0 and 1.1 only; nginx reads 1.x"),
    Case("lower-case method", b"get /a HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("tab in the request line", b"GET\t/a HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("space in the target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("CR in the target", b"GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("control character in the target", b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("space after the version", b"GET /a HTTP/1.1 \r\nHost: x\r\n\r\n", 400,
         nginx=NGINX_FORWARDS_GET_A, why="llhttp refuses anything between version and CRLF"),
    Case("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("CONNECT", b"CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n", 400),
]


# ------------------------------------------------------------------------------------------------
# Reading what went over the wire


TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_requests_strictly(data):
    """The requests in `data`, read the strict way: CRLF line ends, token names, at most one
    framing header, a digits-only Content-Length or exactly "chunked", hex chunk sizes, CRLF
    after each chunk. Returns ([(method, target, headers, body)], leftover bytes); raises
    AssertionError at anything else."""
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return out, data
        lines = data[:end].split(b"\r\n")
        rest = data[end + 4:]
        m = re.fullmatch(rb"([A-Z]+) (\S+) HTTP/1\.[01]", lines[0])
        assert m, f"bad request line upstream: {lines[0]!r}"
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            assert sep and TOKEN.fullmatch(name), f"bad header line upstream: {line!r}"
            assert not re.search(rb"[\x00\r\n]", value), f"NUL, CR or LF in a value: {line!r}"
            headers.append((name.decode().lower(), value.strip(b" \t").decode("latin-1")))
        te = [v for n, v in headers if n == "transfer-encoding"]
        cl = [v for n, v in headers if n == "content-length"]
        assert len(te) + len(cl) <= 1, f"ambiguous framing upstream: {headers}"
        body = b""
        if te:
            assert te[0] == "chunked", te
            while True:
                eol = rest.find(b"\r\n")
                if eol < 0:
                    return out, data
                assert re.fullmatch(rb"[0-9a-fA-F]+", rest[:eol]), f"chunk size {rest[:eol]!r}"
                size = int(rest[:eol], 16)
                rest = rest[eol + 2:]
                if size == 0:
                    while True:  # trailer lines, then the empty line
                        eol = rest.find(b"\r\n")
                        if eol < 0:
                            return out, data
                        line, rest = rest[:eol], rest[eol + 2:]
                        if not line:
                            break
                    break
                if len(rest) < size + 2:
                    return out, data
                assert rest[size:size + 2] == b"\r\n", "chunk data not followed by CRLF"
                body += rest[:size]
                rest = rest[size + 2:]
        elif cl:
            assert re.fullmatch(r"[0-9]+", cl[0]), cl
            n = int(cl[0])
            if len(rest) < n:
                return out, data
            body, rest = rest[:n], rest[n:]
        out.append((m.group(1).decode(), m.group(2).decode("latin-1"), headers, body))
        data = rest
    return out, b""


def parse_responses(data):
    """Statuses of the complete responses in `data` (Content-Length or chunked bodies)."""
    statuses = []
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return statuses
        lines = data[:end].split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        rest = data[end + 4:]
        fields = {}
        for line in lines[1:]:
            n, _, v = line.partition(b":")
            fields[n.strip().lower()] = v.strip()
        if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            while True:
                eol = rest.find(b"\r\n")
                if eol < 0:
                    return statuses
                size = int(rest[:eol].split(b";")[0], 16)
                if len(rest) < eol + 2 + size + 2:
                    return statuses
                rest = rest[eol + 2 + size + 2:]
                if size == 0:
                    break
        else:
            n = int(fields.get(b"content-length", b"0"))
            if len(rest) < n:
                return statuses
            rest = rest[n:]
        statuses.append(status)
        data = rest


def converse(port, raw, want, deadline=10.0, quiet=0.15):
    """Sends `raw` on a fresh connection and reads until the server closes, or `want` responses
    (None: only the close) have arrived and nothing more came for `quiet` seconds. Returns
    (bytes, closed)."""
    sock = socket.create_connection((LOOPBACK, port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = b""
    closed = False
    try:
        sock.sendall(raw)
        end = time.monotonic() + deadline
        last = time.monotonic()
        while time.monotonic() < end:
            if want is not None and len(parse_responses(data)) >= want and \
                    time.monotonic() - last >= quiet:
                break
            sock.settimeout(0.05)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                closed = True
                break
            data += chunk
            last = time.monotonic()
    finally:
        sock.close()
    return data, closed


class Outcome:
    def __init__(self, statuses, closed, forwarded, raw_client, leftovers, cut):
        self.statuses = statuses
        self.closed = closed
        self.forwarded = forwarded
        self.raw_client = raw_client
        self.leftovers = leftovers  # {conn id: bytes that are not a complete request}
        self.cut = cut              # those connections were then closed by the proxy

    def __repr__(self):
        return (f"statuses={self.statuses} closed={self.closed} forwarded={self.forwarded} "
                f"leftovers={self.leftovers} client bytes={self.raw_client[:400]!r}")


def run_case(port, up, case_statuses, raw):
    """One case through one proxy: the client exchange, then a sentinel request on a new
    connection so everything the case caused has reached the upstream before it is read."""
    mark = up.mark()
    want = None if case_statuses == TIMEOUT else len(case_statuses)
    data, closed = converse(port, raw, want)
    r = request(port, "GET", SENTINEL, timeout=10)
    assert r.status == 200, f"sentinel request failed: {r!r}"
    up.wait_target(SENTINEL)
    up.quiet_for(0.05)
    _, raw_by_conn = up.received_since(mark)
    forwarded = []
    leftovers = {}
    for cid, conn_bytes in raw_by_conn.items():
        reqs, left = parse_requests_strictly(conn_bytes)
        forwarded += [(m, t, b) for m, t, _, b in reqs if t != SENTINEL]
        if left:
            leftovers[cid] = left
    cut = True
    if leftovers:
        try:
            up.wait_ended(leftovers, timeout=3)
        except AssertionError:
            cut = False
    return Outcome(parse_responses(data), closed, forwarded, data, leftovers, cut)


# ------------------------------------------------------------------------------------------------
# A private nginx 1.22 as the reference


class Nginx:
    """nginx as Kong runs it for these purposes: HTTP/1.1 to a keep-alive upstream, no body
    size limit, 500 ms client timeouts (as the gateway under test), its own temp dir."""

    def __init__(self, upstream_port):
        self.dir = tempfile.mkdtemp(prefix="sb-nginx-")
        os.chmod(self.dir, 0o755)  # workers run as nobody when started by root
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
error_log {self.dir}/error.log info;
pid {self.dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {self.dir}/body; proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fcgi; uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  client_max_body_size 0; client_body_buffer_size 1m;
  client_header_timeout 500ms; client_body_timeout 500ms; keepalive_timeout 2s;
  upstream up {{ server {LOOPBACK}:{upstream_port}; keepalive 8; }}
  server {{
    listen {LOOPBACK}:{self.port};
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }}
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-c", conf, "-e",
                                      f"{self.dir}/error.log", "-g", "daemon off;"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log()}")
            try:
                socket.create_connection((LOOPBACK, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("nginx did not come up")

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the master takes its worker down
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------


class SmugglingTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = class_upstream(cls)
        cls.gw = start_class_gateway(
            cls, CONFIG.format(ip=LOOPBACK, port=cls.up.port),
            ["--client-header-timeout", "500", "--client-body-timeout", "500",
             "--keepalive-timeout", "2000"])
        cls.nginx = None
        cls.nginx_up = None
        if shutil.which("nginx"):
            cls.nginx_up = class_upstream(cls)
            cls.nginx = Nginx(cls.nginx_up.port)
            cls.addClassCleanup(cls.nginx.stop)

    def check(self, who, case, got, statuses, forwarded):
        ctx = f"{who}: {case.name}: {got!r}"
        if statuses == TIMEOUT:
            self.assertIn(got.statuses, ([], [408]), ctx)
            self.assertTrue(got.closed, "the connection outlived the body timeout -- " + ctx)
        else:
            self.assertEqual(got.statuses, statuses, ctx)
        self.assertEqual(got.forwarded, forwarded, "upstream received other requests than the "
                         "client meant -- " + ctx)
        if statuses == TIMEOUT:
            # A streaming proxy may have passed on the start of a body that never ended; the
            # upstream connection must then be closed, so that it never completes.
            self.assertTrue(got.cut, "an incomplete request was left open upstream -- " + ctx)
            return
        self.assertEqual(got.leftovers, {}, "unframed bytes reached the upstream -- " + ctx)
        if statuses[-1] >= 400:
            self.assertTrue(got.closed, "the connection stays open after a rejection -- " + ctx)

    def test_table_against_silverback_and_nginx(self):
        """Every case through both proxies at once; each checked against its expectation."""
        if self.nginx is None:
            print("nginx not installed: checking Silverback only", flush=True)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for case in CASES:
                sb = pool.submit(run_case, self.gw.proxy_port, self.up, case.statuses, case.raw)
                ngx = None
                if self.nginx is not None:
                    ngx_statuses = case.nginx[0] if case.nginx else case.statuses
                    ngx = pool.submit(run_case, self.nginx.port, self.nginx_up, ngx_statuses,
                                      case.raw)
                with self.subTest(case=case.name, proxy="silverback"):
                    self.check("silverback", case, sb.result(), case.statuses, case.forwarded)
                if ngx is not None:
                    statuses, forwarded = case.nginx if case.nginx else (case.statuses,
                                                                         case.forwarded)
                    with self.subTest(case=case.name, proxy="nginx 1.22"):
                        self.check("nginx", case, ngx.result(), statuses,
                                   [tuple(f) for f in forwarded])
        self.assertTrue(self.gw.alive())

    def test_rejections_use_kong_and_nginx_bodies(self):
        # 400: Kong's error handler; 501/505: nginx's own page (not in Kong's error_page list).
        with RawClient(self.gw.proxy_port) as c:
            c.send(post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"))
            self.assertKongError(c.read_response(), 400, "Bad request", "plain")
        for raw, status, title in (
                (post(b"Transfer-Encoding: gzip, chunked\r\n", CHUNKED_HELLO), 501,
                 "501 Not Implemented"),
                (b"GET /a HTTP/2.0\r\nHost: x\r\n\r\n", 505, "505 HTTP Version Not Supported")):
            with RawClient(self.gw.proxy_port) as c:
                c.send(raw)
                r = c.read_response()
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.header("Content-Type"), "text/html", r)
                self.assertIn(f"<title>{title}</title>".encode(), r.body)
                self.assertEqual(r.header("Connection"), "close")
                self.assertTrue(c.closed_by_peer(2))

    def test_split_writes_read_the_same(self):
        """The framing checks hold when the bytes arrive one at a time (a tab before a
        Transfer-Encoding value in an earlier read, a chunk terminator split from its data)."""
        for raw, status in ((post(b"Transfer-Encoding:\t chunked\r\n", CHUNKED_HELLO), 501),
                            (post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabcXY0\r\n\r\n"), 400),
                            (post(b"Content-Length: 9223372036854775808\r\n", HIDDEN), 400)):
            mark = self.up.mark()
            with RawClient(self.gw.proxy_port, timeout=10) as c:
                for i in range(len(raw)):
                    try:
                        c.send(raw[i:i + 1])
                    except OSError:
                        break  # rejected before the last byte
                r = c.read_response(timeout=10)
                self.assertEqual(r.status, status, (raw, r))
            request(self.gw.proxy_port, "GET", SENTINEL)
            self.up.wait_target(SENTINEL)
            reqs, _ = self.up.received_since(mark)
            self.assertEqual([q.target for q in reqs], [SENTINEL], raw)


class UpgradeSmugglingTest(GatewayTestCase):
    """Upgrade tricks need an upstream that says yes (101), which the table's echo never does."""

    def upstream(self):
        def handler(req):
            if req.target == "/ws":
                return Reply(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             b"Upgrade: websocket\r\nSec-WebSocket-Accept: "
                             b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", tunnel=True)
            if req.target == "/h2c":
                # A (wrong) upstream that switches to whatever it is asked for.
                return Reply(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             b"Upgrade: h2c\r\n\r\n", tunnel=True)
            if req.target == "/refuse":
                return Reply(http_response(403, "no", {"Content-Type": "text/plain"}))
            return echo_reply(req)
        up = self.make_upstream(handler)
        gw = self.start_gateway(CONFIG.format(ip=LOOPBACK, port=up.port),
                                ["--client-header-timeout", "2000", "--keepalive-timeout", "3000"])
        return up, gw

    def test_h2c_upgrade_is_not_forwarded_and_a_101_for_it_is_refused(self):
        up, gw = self.upstream()
        with RawClient(gw.proxy_port) as c:
            c.send(b"GET /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                   b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
                   b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + HIDDEN)
            r = c.read_response()
            self.assertEqual(r.status, 502, "a 101 to a request that may not upgrade is invalid")
            self.assertTrue(c.closed_by_peer(3))
        req = up.wait_requests(1)[0]
        self.assertFalse(req.has("Upgrade"), req.headers)
        self.assertFalse(req.has("HTTP2-Settings"), req.headers)
        self.assertNotIn("upgrade", (req.header("Connection") or "").lower())
        up.quiet_for(0.2)
        everything = b"".join(up.raw_by_conn.values())
        self.assertNotIn(b"PRI *", everything, "bytes after the upgrade request were tunnelled")
        self.assertNotIn(b"/hidden", everything)
        self.assertEqual(request(gw.proxy_port, "GET", "/after").status, 200)

    def test_refused_websocket_upgrade_never_tunnels_the_next_bytes(self):
        up, gw = self.upstream()
        with RawClient(gw.proxy_port) as c:
            c.send(b"GET /refuse HTTP/1.1\r\nHost: x\r\n" + WS_HEADERS + b"\r\n" + HIDDEN)
            r = c.read_response()
            self.assertEqual(r.status, 403)
            self.assertEqual(r.header("Connection"), "close")
            self.assertTrue(c.closed_by_peer(3))
        up.quiet_for(0.2)
        self.assertEqual([q.target for q in up.requests], ["/refuse"])
        self.assertNotIn(b"/hidden", b"".join(up.raw_by_conn.values()))

    def test_accepted_websocket_upgrade_tunnels_bytes_unparsed(self):
        up, gw = self.upstream()
        with RawClient(gw.proxy_port) as c:
            c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\n" + WS_HEADERS + b"\r\n" + HIDDEN)
            r = c.read_response()
            self.assertEqual(r.status, 101)
            # The bytes after the request went through the tunnel as data: echoed, not answered.
            self.assertEqual(c.read_exact(len(HIDDEN)), HIDDEN)
            c.send(b"more")
            self.assertEqual(c.read_exact(4), b"more")
        up.quiet_for(0.2)
        self.assertEqual([q.target for q in up.requests], ["/ws"], "tunnel data parsed as HTTP")
        # The tunnelled connection never goes back to the pool.
        self.assertEqual(request(gw.proxy_port, "GET", "/after").status, 200)
        self.assertNotEqual(up.requests[-1].conn_id, up.requests[0].conn_id)

    def test_connection_upgrade_without_upgrade_header_is_plain_http(self):
        up, gw = self.upstream()
        with RawClient(gw.proxy_port) as c:
            c.send(b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n" + SECOND)
            self.assertEqual(c.read_response().status, 200)
            self.assertEqual(c.read_response().status, 200)
        reqs = up.wait_requests(2)
        self.assertEqual([q.target for q in reqs], ["/plain", "/second"])
        self.assertNotIn("upgrade", (reqs[0].header("Connection") or "").lower())


class AbsoluteFormTest(GatewayTestCase):
    """An absolute-form target's host overrides Host (RFC 9112 §3.2.2, nginx's $host): it routes
    and is what preserve_host sends, never the Host header beside it."""

    def test_absolute_form_host_routes_and_is_preserved(self):
        up = self.make_upstream()
        gw = self.start_gateway(f"""_format_version: "3.0"
services:
  - name: a
    url: http://{LOOPBACK}:{up.port}/svc-a
    routes:
      - name: a
        hosts: [abs.test]
        preserve_host: true
  - name: b
    url: http://{LOOPBACK}:{up.port}/svc-b
    routes:
      - name: b
        hosts: [x.test]
        preserve_host: true
""")
        with RawClient(gw.proxy_port) as c:
            c.send(b"GET http://abs.test/p?q=1 HTTP/1.1\r\nHost: x.test\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
            c.send(b"GET http://x.test/p HTTP/1.1\r\nHost: abs.test\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
            c.send(b"GET http://nowhere.test/p HTTP/1.1\r\nHost: abs.test\r\n\r\n")
            self.assertEqual(c.read_response().status, 404)
        reqs = up.wait_requests(2)
        up.quiet_for(0.1)
        self.assertEqual(len(up.requests), 2)
        self.assertEqual((reqs[0].target, reqs[0].header("Host")), ("/svc-a/p?q=1", "abs.test"))
        self.assertEqual((reqs[1].target, reqs[1].header("Host")), ("/svc-b/p", "x.test"))
        self.assertEqual(reqs[0].header_all("Host"), ["abs.test"])


if __name__ == "__main__":
    unittest.main()
