#include "config/checks.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <memory>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace sb::config::checks {
namespace {

constexpr std::string_view kKongNamespace = "fd02801f-0957-4a15-a55a-c8d9606f30b5";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

std::string format_uuid(const unsigned char* b) {
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:"
      "02x}"
      "{:02x}",
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
      b[15]);
}

// Port suffix "digits" -> number, or -2 when > 65535 (Kong: "invalid port number").
int parse_port(std::string_view digits) {
  if (digits.size() > 6) return -2;
  int v = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), v);
  return v > 65535 ? -2 : v;
}

bool is_reserved(unsigned char c) {
  return std::strchr("!#$%&'()*+,/:;=?@[]", c) != nullptr && c != 0;
}

}  // namespace

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (hex_value(s[i]) < 0) {
      return false;
    }
  }
  return true;
}

std::string uuid_v5(std::string_view namespace_uuid, std::string_view name) {
  std::string data;
  data.reserve(16 + name.size());
  for (size_t i = 0; i + 1 < namespace_uuid.size();) {
    if (namespace_uuid[i] == '-') {
      ++i;
      continue;
    }
    data.push_back(
        static_cast<char>(hex_value(namespace_uuid[i]) * 16 + hex_value(namespace_uuid[i + 1])));
    i += 2;
  }
  data.append(name);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha1(), nullptr);
  md[6] = static_cast<unsigned char>((md[6] & 0x0f) | 0x50);
  md[8] = static_cast<unsigned char>((md[8] & 0x3f) | 0x80);
  return format_uuid(md);
}

std::string entity_uuid(std::string_view entity, std::string_view key) {
  return uuid_v5(uuid_v5(kKongNamespace, entity), key);
}

std::string random_uuid() {
  unsigned char b[16] = {};
  if (RAND_bytes(b, sizeof b) != 1) {
    // Extremely unlikely; fall back to something unique enough for this process.
    static unsigned long counter = 0;
    auto n = ++counter;
    std::memcpy(b, &n, sizeof n);
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  return format_uuid(b);
}

std::string md5_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------

std::optional<HostPort> parse_host(std::string_view text, std::string* error) {
  HostPort hp;
  size_t colons = 0;
  bool digits_dots = true;
  for (char c : text) {
    if (c == ':') {
      ++colons;
    } else if (!((c >= '0' && c <= '9') || c == '.')) {
      digits_dots = false;
    }
  }
  const std::string address(text);
  if (colons > 1) {  // IPv6, "[addr]:port" or bare
    hp.type = HostPort::kIpv6;
    std::string addr = address;
    if (!addr.empty() && addr[0] == '[') {
      auto close = addr.find(']');
      if (close == std::string::npos) {
        *error = "invalid ipv6 address: " + address;
        return std::nullopt;
      }
      std::string_view rest = std::string_view(addr).substr(close + 1);
      if (!rest.empty()) {
        if (rest[0] != ':' || !is_digits(rest.substr(1))) {
          *error = "invalid ipv6 address: " + address;
          return std::nullopt;
        }
        hp.port = parse_port(rest.substr(1));
        if (hp.port == -2) {
          *error = "invalid port number";
          return std::nullopt;
        }
      }
      addr = addr.substr(1, close - 1);
    }
    unsigned char buf[16];
    if (inet_pton(AF_INET6, addr.c_str(), buf) != 1) {
      *error = "invalid ipv6 address: " + address;
      return std::nullopt;
    }
    hp.host = addr;
    return hp;
  }
  std::string_view name = text;
  auto colon = name.rfind(':');
  if (colon != std::string_view::npos && is_digits(name.substr(colon + 1))) {
    hp.port = parse_port(name.substr(colon + 1));
    if (hp.port == -2) {
      *error = "invalid port number";
      return std::nullopt;
    }
    name = name.substr(0, colon);
  }
  if (digits_dots || (colon != std::string_view::npos && is_digits(name.substr(0, 1)) &&
                      name.find_first_not_of("0123456789.") == std::string_view::npos)) {
    hp.type = HostPort::kIpv4;
    std::string n(name);
    unsigned char buf[4];
    int dots = 0;
    for (char c : n) dots += c == '.';
    if (dots != 3 || inet_pton(AF_INET, n.c_str(), buf) != 1) {
      *error = "invalid ipv4 address: " + address;
      return std::nullopt;
    }
    hp.host = n;
    return hp;
  }
  // Hostname: [A-Za-z0-9-._]+, no label ending in '-', no empty label except a trailing dot.
  bool ok = !name.empty();
  for (unsigned char c : name)
    if (!is_alnum(c) && c != '-' && c != '.' && c != '_') ok = false;
  if (ok) {
    size_t start = 0;
    while (start <= name.size()) {
      size_t dot = name.find('.', start);
      bool last = dot == std::string_view::npos;
      std::string_view label = name.substr(start, last ? std::string_view::npos : dot - start);
      if (label.empty() && !(last && start > 0)) ok = false;
      if (!label.empty() && label.back() == '-') ok = false;
      if (last) break;
      start = dot + 1;
    }
  }
  if (!ok) {
    *error = "invalid hostname: " + address;
    return std::nullopt;
  }
  hp.type = HostPort::kName;
  hp.host = std::string(name);
  return hp;
}

std::string check_host(std::string_view host) {
  std::string err;
  auto hp = parse_host(host, &err);
  if (!hp) {
    if (err == "invalid port number") return "must not have a port";
    return fmt::format("invalid value: {}", host);
  }
  if (hp->port >= 0) return "must not have a port";
  return {};
}

std::string check_host_with_optional_port(std::string_view host) {
  std::string err;
  if (!parse_host(host, &err)) return err;
  return {};
}

std::string check_wildcard_host(std::string_view host) {
  std::string h(host);
  auto idx = h.find('*');
  if (idx != std::string::npos) {
    if (idx != 0 && idx != h.size() - 1) return "wildcard must be leftmost or rightmost character";
    if (h.find('*', idx + 1) != std::string::npos) return "only one wildcard must be specified";
    h.replace(idx, 1, "wildcard");
  }
  std::string err;
  auto hp = parse_host(h, &err);
  if (!hp) {
    if (err == "invalid port number") return "must not have a port";
    return "invalid value: " + h;
  }
  if (hp->type != HostPort::kName) return "must not be an IP";
  if (hp->port >= 0) return "must not have a port";
  return {};
}

std::string check_route_host(std::string_view host) {
  auto first = host.find('*');
  if (first != std::string_view::npos) {
    if (host.find('*', first + 1) != std::string_view::npos)
      return "invalid wildcard: must have at most one wildcard";
    bool left = host.substr(0, 2) == "*.";
    bool right = host.size() >= 2 && host.substr(host.size() - 2) == ".*";
    if (!left && !right) return "invalid wildcard: must be placed at leftmost or rightmost label";
  }
  std::string h(host);
  if (first != std::string_view::npos) h.replace(first, 1, "abc");
  return check_host_with_optional_port(h);
}

bool is_ip_or_cidr(std::string_view s) {
  std::string ip(s);
  int max_bits = -1;
  auto slash = ip.find('/');
  std::string bits;
  if (slash != std::string::npos) {
    bits = ip.substr(slash + 1);
    ip = ip.substr(0, slash);
    if (!is_digits(bits) || bits.size() > 3) return false;
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) {
    max_bits = 32;
  } else if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) {
    max_bits = 128;
  } else {
    return false;
  }
  return bits.empty() || std::stoi(bits) <= max_bits;
}

// ---------------------------------------------------------------------------------------------

bool valid_utf8(std::string_view s, size_t* bad_index) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    if (c < 0x80) {
      n = 0;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
    } else {
      *bad_index = i + 1;
      return false;
    }
    if (n > 0 && i + n >= s.size()) {
      *bad_index = i + 1;
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) {
        *bad_index = i + 1;
        return false;
      }
    }
    i += n + 1;
  }
  return true;
}

std::string check_utf8_name(std::string_view name) {
  size_t bad = 0;
  if (!valid_utf8(name, &bad))
    return fmt::format("invalid utf-8 character sequence detected at position {}", bad);
  bool ok = !name.empty();
  for (unsigned char c : name)
    if (!is_alnum(c) && c != '.' && c != '-' && c != '_' && c != '~' && !(c >= 0x80 && c <= 0xF4))
      ok = false;
  if (!ok)
    return fmt::format(
        "invalid value '{}': the only accepted ascii characters are alphanumerics or ., -, _, and "
        "~",
        name);
  return {};
}

std::string check_tag(std::string_view tag) {
  size_t bad = 0;
  if (!valid_utf8(tag, &bad))
    return fmt::format("invalid utf-8 character sequence detected at position {}", bad);
  bool ok = !tag.empty();
  for (unsigned char c : tag) {
    bool good = c == ' ' || (c >= 33 && c <= 126 && c != ',' && c != '/') || (c >= 128 && c <= 244);
    if (!good) ok = false;
  }
  if (!ok)
    return fmt::format(
        "invalid tag '{}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences",
        tag);
  return {};
}

std::string check_header_name(std::string_view name) {
  bool ok = !name.empty();
  for (unsigned char c : name)
    if (!is_alnum(c) && c != '-' && c != '_') ok = false;
  if (!ok)
    return fmt::format("bad header name '{}', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
                       name);
  return {};
}

// ---------------------------------------------------------------------------------------------

namespace {

// validate_path's percent-encoding check: "" or "invalid url-encoded value: '%..'".
std::string percent_error(std::string_view path) {
  std::string raw;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() && hex_value(path[i + 1]) >= 0 &&
        hex_value(path[i + 2]) >= 0) {
      raw += "___";
      i += 2;
    } else {
      raw += path[i];
    }
  }
  auto pct = raw.find('%');
  if (pct == std::string::npos) return {};
  return fmt::format("invalid url-encoded value: '{}'", raw.substr(pct, 3));
}

bool rfc3986_char(unsigned char c) {
  return is_alnum(c) || std::strchr("._-~/%:@!$&'()*+,;=", c) != nullptr;
}

// Kong 3.0 migration of a legacy regex path: decode %XX except reserved characters (kept as
// upper-case %XX) and backslash-escape decoded regex meta characters.
std::string migrate_legacy_regex(std::string_view path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() && hex_value(path[i + 1]) >= 0 &&
        hex_value(path[i + 2]) >= 0) {
      auto c = static_cast<unsigned char>(hex_value(path[i + 1]) * 16 + hex_value(path[i + 2]));
      if (is_reserved(c)) {
        out += fmt::format("%{:02X}", c);
      } else if (c != 0 && std::strchr(".^-{}\\|", c) != nullptr) {
        out += '\\';
        out += static_cast<char>(c);
      } else {
        out += static_cast<char>(c);
      }
      i += 2;
    } else {
      out += path[i];
    }
  }
  return out;
}

}  // namespace

std::string check_service_path(std::string_view path) {
  if (path.empty() || path[0] != '/') return "should start with: /";
  if (path.find("//") != std::string_view::npos) return "must not have empty segments";
  for (unsigned char c : path)
    if (!rfc3986_char(c))
      return fmt::format(
          "invalid path: '{}' (characters outside of the reserved list of RFC 3986 found)", path);
  return percent_error(path);
}

std::string regex_error(std::string_view re) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* compiled = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                                       PCRE2_ANCHORED, &code, &offset, nullptr);
  if (compiled != nullptr) {
    pcre2_code_free(compiled);
    return {};
  }
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return fmt::format("pcre2_compile() failed: {} in \"{}\"", reinterpret_cast<const char*>(buf),
                     re);
}

std::string check_router_path(std::string_view path) {
  bool regex = path.substr(0, 2) == "~/";
  if (!(path.substr(0, 1) == "/" || regex))
    return "should start with: / (fixed path) or ~/ (regex path)";
  if (path.find("//") != std::string_view::npos) return "must not have empty segments";
  if (auto e = percent_error(path); !e.empty()) return e;
  if (!regex) {
    std::string normalized = normalize_path(path);
    if (normalized != path)
      return fmt::format("non-normalized path, consider use '{}' instead", normalized);
    return {};
  }
  std::string_view re = path.substr(1);
  if (auto e = regex_error(re); !e.empty())
    return fmt::format("invalid regex: '{}' (PCRE returned: {})", re, e);
  return {};
}

bool legacy_path_is_regex(std::string_view path) {
  for (unsigned char c : path)
    if (!is_alnum(c) && std::strchr(".-_~/%", c) == nullptr) return true;
  return false;
}

std::string check_legacy_router_path(std::string_view path) {
  if (!legacy_path_is_regex(path)) {
    std::string migrated = normalize_path(path);
    if (migrated.empty() || migrated[0] != '/')
      return "should start with: / (fixed path) or ~/ (regex path)";
    return percent_error(migrated);
  }
  std::string re = migrate_legacy_regex(path);
  if (re.empty() || re[0] != '/') return "should start with: / (fixed path) or ~/ (regex path)";
  if (re.find("//") != std::string::npos) return "must not have empty segments";
  if (auto e = regex_error(re); !e.empty())
    return fmt::format("invalid regex: '{}' (PCRE returned: {})", re, e);
  return {};
}

std::string normalize_path(std::string_view path) {
  // 1. percent-decode everything but reserved characters (those get upper-case hex).
  std::string decoded;
  decoded.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() && hex_value(path[i + 1]) >= 0 &&
        hex_value(path[i + 2]) >= 0) {
      auto c = static_cast<unsigned char>(hex_value(path[i + 1]) * 16 + hex_value(path[i + 2]));
      if (is_reserved(c) || c == 0) {
        decoded += fmt::format("%{:02X}", c);
      } else {
        decoded += static_cast<char>(c);
      }
      i += 2;
    } else {
      decoded += path[i];
    }
  }
  // 2. remove dot segments (RFC 3986 §5.2.4).
  std::string_view in = decoded;
  std::string out;
  while (!in.empty()) {
    if (in.substr(0, 3) == "../") {
      in.remove_prefix(3);
    } else if (in.substr(0, 2) == "./") {
      in.remove_prefix(2);
    } else if (in.substr(0, 3) == "/./") {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.substr(0, 4) == "/../" || in == "/..") {
      if (in == "/..") {
        in = "/";
      } else {
        in.remove_prefix(3);
      }
      auto slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      size_t start = in[0] == '/' ? 1 : 0;
      size_t next = in.find('/', start);
      if (next == std::string_view::npos) next = in.size();
      out.append(in.substr(0, next));
      in.remove_prefix(next);
    }
  }
  // 3. merge slashes.
  std::string merged;
  merged.reserve(out.size());
  for (char c : out) {
    if (c == '/' && !merged.empty() && merged.back() == '/') continue;
    merged += c;
  }
  return merged;
}

// Certificates ---------------------------------------------------------------------------------

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Never prompt on the terminal for a passphrase: an encrypted key simply fails to load.
int no_passphrase(char*, int, int, void*) { return -1; }

std::unique_ptr<BIO, BioFree> mem_bio(std::string_view pem) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(std::min<size_t>(pem.size(), INT32_MAX))));
}

X509Ptr read_cert(std::string_view pem) {
  auto bio = mem_bio(pem);
  if (!bio) return nullptr;
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
}

PkeyPtr read_key(std::string_view pem) {
  auto bio = mem_bio(pem);
  if (!bio) return nullptr;
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
}

// The oldest queued OpenSSL error of this thread (the root cause, e.g. "error:0480006C:PEM
// routines::no start line" or "error:0680009B:asn1 encoding routines::too long") as text;
// clears the queue. The wording is OpenSSL's and varies with its version.
std::string openssl_reason() {
  unsigned long code = ERR_peek_error();
  std::string out = "unknown error";
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out = buf;
  }
  ERR_clear_error();
  return out;
}

}  // namespace

bool is_vault_reference(std::string_view s) {
  return s.size() > 9 && s.substr(0, 9) == "{vault://" && s.back() == '}';
}

std::string check_certificate(std::string_view pem) {
  ERR_clear_error();
  if (read_cert(pem)) {
    ERR_clear_error();
    return {};
  }
  return "invalid certificate: x509.new: " + openssl_reason();
}

std::string check_key(std::string_view pem) {
  ERR_clear_error();
  if (read_key(pem)) {
    ERR_clear_error();
    return {};
  }
  return "invalid key: pkey.new:load_key: " + openssl_reason();
}

bool certificate_matches_key(std::string_view cert_pem, std::string_view key_pem) {
  auto cert = read_cert(cert_pem);
  auto key = read_key(key_pem);
  bool ok = false;
  if (cert && key) {
    EVP_PKEY* pub = X509_get0_pubkey(cert.get());
    ok = pub != nullptr && EVP_PKEY_eq(pub, key.get()) == 1;
  }
  ERR_clear_error();
  return ok;
}

int certificate_key_type(std::string_view cert_pem) {
  auto cert = read_cert(cert_pem);
  EVP_PKEY* pub = cert ? X509_get0_pubkey(cert.get()) : nullptr;
  int type = pub ? EVP_PKEY_get_base_id(pub) : 0;
  ERR_clear_error();
  return type;
}

}  // namespace sb::config::checks
