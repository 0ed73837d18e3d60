// Kong's route matching: both flavours share one compiled form (candidates in priority order plus
// indexes); they differ in how candidates are built and ranked and in a few per-field rules.
#include "router/router.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

#include "router/path_internal.h"

namespace sb::router {
namespace {

using sb::config::Config;
using sb::config::Route;
using sb::config::Service;

// ---------------------------------------------------------------------------------------------
// Small helpers

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower_copy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// Case-insensitive compare where `lower` is already lower-case.
bool iequals_lower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (ascii_lower(s[i]) != lower[i]) return false;
  }
  return true;
}

// Header names: case-insensitive, and '-' equals '_' (Kong's get_headers()/ATC field names).
char header_name_char(char c) { return c == '_' ? '-' : ascii_lower(c); }

std::string canonical_header_name(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = header_name_char(c);
  return out;
}

bool header_name_equals(std::string_view request_name, std::string_view canonical) {
  if (request_name.size() != canonical.size()) return false;
  for (size_t i = 0; i < request_name.size(); ++i) {
    if (header_name_char(request_name[i]) != canonical[i]) return false;
  }
  return true;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         std::memcmp(s.data() + s.size() - suffix.size(), suffix.data(), suffix.size()) == 0;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && std::memcmp(s.data(), prefix.data(), prefix.size()) == 0;
}

// Parses "123" into a port; -1 when not all digits or out of range.
int parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return -1;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v <= 65535 ? v : -1;
}

struct HostPort {
  std::string_view host;
  bool has_port = false;  // an explicit, parseable ":port" was present
  int port = 0;           // -1: a port was written but is not a valid number
};

// Kong 2.8's split_port(): "[v6]" brackets are peeled; "h:port" splits only when port is digits;
// anything else (e.g. a bare IPv6 address) is a host without port.
HostPort split_host_port(std::string_view s) {
  HostPort hp;
  hp.host = s;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return hp;
    hp.host = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (rest.size() > 1 && rest.front() == ':') {
      hp.has_port = true;
      hp.port = parse_port(rest.substr(1));
    }
    return hp;
  }
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) return hp;
  if (colon + 1 == s.size()) {
    hp.host = s.substr(0, colon);
    return hp;
  }
  std::string_view rest = s.substr(colon + 1);
  bool digits = std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) return hp;
  hp.host = s.substr(0, colon);
  hp.has_port = true;
  hp.port = parse_port(rest);
  return hp;
}

// RFC 4122 version-5 UUID (what resty.jit-uuid's factory_v5 produces), lower-case text.
std::string uuid_v5(std::string_view namespace_uuid, std::string_view name) {
  std::string bytes;
  for (size_t i = 0; i + 1 < namespace_uuid.size();) {
    if (namespace_uuid[i] == '-') {
      ++i;
      continue;
    }
    auto hex = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    bytes.push_back(static_cast<char>(hex(namespace_uuid[i]) * 16 + hex(namespace_uuid[i + 1])));
    i += 2;
  }
  bytes.append(name);
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest.data());
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0F) | 0x50);
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3F) | 0x80);
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out += fmt::format("{:02x}", digest[i]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PCRE2 (RAII) and per-thread match data

struct CodeDeleter {
  void operator()(pcre2_code* p) const { pcre2_code_free(p); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* p) const { pcre2_match_data_free(p); }
};
struct MatchContextDeleter {
  void operator()(pcre2_match_context* p) const { pcre2_match_context_free(p); }
};
using CodePtr = std::unique_ptr<pcre2_code, CodeDeleter>;
using MatchDataPtr = std::unique_ptr<pcre2_match_data, MatchDataDeleter>;
using MatchContextPtr = std::unique_ptr<pcre2_match_context, MatchContextDeleter>;

struct Regex {
  CodePtr code;
  uint32_t groups = 0;             // capture groups in the pattern
  std::vector<std::string> names;  // names[i] = name of group i ("" if unnamed), size groups+1
  uint32_t postfix_group = 0;      // traditional: group number of (?<uri_postfix>.*), 0 = none
};

// Match data big enough for the largest pattern, one per thread, grown (rarely) on demand.
pcre2_match_data* thread_match_data(uint32_t pairs) {
  thread_local MatchDataPtr data;
  thread_local uint32_t capacity = 0;
  if (!data || capacity < pairs) {
    data.reset(pcre2_match_data_create(pairs, nullptr));
    capacity = data ? pairs : 0;
  }
  return data.get();
}

// ---------------------------------------------------------------------------------------------
// Compiled routes

enum class Affix : uint8_t { exact, suffix, prefix };  // plain, "*.x.com", "x.*"

struct HostRule {
  std::string host;  // plain: the host; suffix: ".x.com"; prefix: "x."
  Affix kind = Affix::exact;
  int port = 0;  // 0 = any port
};

struct PathRule {
  bool regex = false;
  std::string prefix;  // prefix paths: the normalized prefix
  int regex_index = -1;
  std::string original;  // as written in the config (reported as Match::matched_path)
};

struct HeaderRule {
  std::string name;                 // canonical (lower-case, '_' -> '-')
  std::vector<std::string> values;  // lower-cased literal values
  std::vector<int> regexes;         // "~*" values
};

struct SniRule {
  std::string value;
  Affix kind = Affix::exact;
};

struct Candidate {
  const Route* route = nullptr;
  const Service* service = nullptr;
  std::vector<HostRule> hosts;
  std::vector<PathRule> paths;
  std::vector<std::string> methods;
  std::vector<HeaderRule> headers;
  std::vector<SniRule> snis;
  bool strip_path = true;
  bool v1 = false;
  uint32_t category = 0;  // traditional: rank of (criteria count, category bits); compat: 0
  // sort keys
  uint64_t priority = 0;  // compat priority; traditional: unused
  std::string uuid;       // compat tie-break
  int weight = 0, bits = 0, submatch = 0, header_count = 0, regex_priority = 0;
  size_t max_uri_length = 0;
  int64_t created_at = 0;
  uint32_t route_index = 0, sub_index = 0;
};

using IdList = std::vector<uint32_t>;  // candidate ids, ascending = priority order

struct HostBucket {
  IdList any_port;
  std::vector<std::pair<int, IdList>> ports;
  const IdList* for_port(int port) const {
    for (const auto& [p, ids] : ports) {
      if (p == port) return &ids;
    }
    return nullptr;
  }
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using HostMap = std::unordered_map<std::string, HostBucket, StringHash, std::equal_to<>>;

struct PrefixNode {
  std::string prefix;
  int parent = -1;  // longest other indexed prefix that is a prefix of this one
  IdList ids;
};

// What match() derives from the request once.
struct RequestView {
  std::string_view method;
  std::string_view host;  // without port
  bool has_host = false;
  bool explicit_port = false;
  int port = 0;  // port used for host entries that carry one (-1: unusable)
  std::string_view path;
  std::string_view scheme;
  std::string_view sni;
  std::span<const Header> headers;
};

// A sorted id list being merged, with its tie tier (traditional "reduced set first" emulation).
struct Cursor {
  const uint32_t* it;
  const uint32_t* end;
  uint32_t tier;
};

constexpr int kHostBit = 64, kHeaderBit = 32, kUriBit = 16, kMethodBit = 8, kSniBit = 4;
constexpr int kHasRegexUri = 1, kPlainHostsOnly = 2, kHasWildcardHostPort = 4;
constexpr uint32_t kMatchLimit = 10000;  // Kong 2.8 prepends (*LIMIT_MATCH=10000)
constexpr const char* kSplitNamespace = "7f145bf9-0dce-4f91-98eb-debbce4b9f6b";

class RouterImpl final : public Router {
 public:
  RouterImpl(const Config& config, Flavor flavor, std::vector<std::string>* errors)
      : flavor_(flavor), match_context_(pcre2_match_context_create(nullptr)) {
    if (match_context_) pcre2_set_match_limit(match_context_.get(), kMatchLimit);
    build(config, errors);
  }

  bool match(const Request& request, Match& out) const override;
  size_t route_count() const override { return route_count_; }

 private:
  bool traditional() const { return flavor_ == Flavor::traditional; }
  void build(const Config& config, std::vector<std::string>* errors);
  bool add_route(const Config& config, uint32_t index, std::vector<std::string>* errors);
  int compile(std::string_view pattern, bool path, bool anchored, std::string_view shown,
              std::string* error);
  void rank();
  void index();

  bool host_ok(const Candidate& c, const RequestView& r) const;
  bool headers_ok(const Candidate& c, const RequestView& r) const;
  bool snis_ok(const Candidate& c, const RequestView& r) const;
  bool regex_search(int index, std::string_view subject) const;
  bool try_candidate(const Candidate& c, const RequestView& r, Match& out) const;

  Flavor flavor_;
  MatchContextPtr match_context_;
  std::vector<Regex> regexes_;
  uint32_t max_pairs_ = 1;
  std::vector<Candidate> candidates_;
  size_t route_count_ = 0;

  HostMap plain_hosts_;
  HostMap wildcard_suffix_;  // ".x.com" -> ids
  HostMap wildcard_prefix_;  // "x." -> ids
  std::vector<size_t> suffix_lengths_;
  std::vector<PrefixNode> prefixes_;  // sorted by prefix
  IdList others_;                     // neither host- nor prefix-indexable
};

int RouterImpl::compile(std::string_view pattern, bool path, bool anchored, std::string_view shown,
                        std::string* error) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  uint32_t options = anchored ? PCRE2_ANCHORED : 0;
  CodePtr re(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                           &code, &offset, nullptr));
  if (!re) {
    std::array<PCRE2_UCHAR, 256> buf{};
    pcre2_get_error_message(code, buf.data(), buf.size());
    *error = fmt::format("invalid regex: '{}' (PCRE returned: {})", shown,
                         reinterpret_cast<const char*>(buf.data()));
    return -1;
  }
  pcre2_jit_compile(re.get(), PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
  Regex r;
  pcre2_pattern_info(re.get(), PCRE2_INFO_CAPTURECOUNT, &r.groups);
  r.names.resize(r.groups + 1);
  uint32_t name_count = 0, entry_size = 0;
  PCRE2_SPTR table = nullptr;
  pcre2_pattern_info(re.get(), PCRE2_INFO_NAMECOUNT, &name_count);
  pcre2_pattern_info(re.get(), PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
  pcre2_pattern_info(re.get(), PCRE2_INFO_NAMETABLE, &table);
  for (uint32_t i = 0; i < name_count; ++i) {
    PCRE2_SPTR entry = table + i * entry_size;
    uint32_t group = (static_cast<uint32_t>(entry[0]) << 8) | entry[1];
    if (group <= r.groups) r.names[group] = reinterpret_cast<const char*>(entry + 2);
  }
  if (path && traditional()) {
    for (uint32_t g = r.groups; g >= 1; --g) {
      if (r.names[g] == "uri_postfix") {
        r.postfix_group = g;
        break;
      }
    }
  }
  r.code = std::move(re);
  max_pairs_ = std::max(max_pairs_, r.groups + 1);
  regexes_.push_back(std::move(r));
  return static_cast<int>(regexes_.size() - 1);
}

bool RouterImpl::add_route(const Config& config, uint32_t index, std::vector<std::string>* errors) {
  const Route& route = config.routes[index];
  const Service* service = nullptr;
  if (route.service >= 0 && static_cast<size_t>(route.service) < config.services.size()) {
    service = &config.services[route.service];
    if (!service->enabled) return false;
  }
  bool http = std::any_of(route.protocols.begin(), route.protocols.end(),
                          [](const std::string& p) { return p == "http" || p == "https"; });
  if (!http) return false;

  Candidate base;
  base.route = &route;
  base.service = service;
  base.strip_path = route.strip_path;
  base.v1 = traditional() && route.path_handling == "v1";
  base.created_at = route.created_at;
  base.route_index = index;

  bool wildcard_host = false, wildcard_host_port = false;
  for (const std::string& entry : route.hosts) {
    HostRule h;
    std::string_view text = entry;
    // "*.x.com:123" / "x.*:123": the port is split off the same way as for plain hosts
    HostPort hp = split_host_port(text);
    h.port = !hp.has_port ? 0 : hp.port < 0 ? -2 : hp.port;  // -2: unusable port, never matches
    std::string_view name = hp.host;
    if (!name.empty() && name.front() == '*') {
      h.kind = Affix::suffix;
      name.remove_prefix(1);
    } else if (!name.empty() && name.back() == '*') {
      h.kind = Affix::prefix;
      name.remove_suffix(1);
    }
    if (h.kind != Affix::exact) {
      wildcard_host = true;
      if (hp.has_port) wildcard_host_port = true;
    }
    h.host = std::string(name);
    base.hosts.push_back(std::move(h));
  }
  const bool has_hosts = !route.hosts.empty();

  for (const std::string& m : route.methods) {
    std::string up(m);
    for (char& c : up) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    base.methods.push_back(std::move(up));
  }

  for (const std::string& sni : route.snis) {
    SniRule s;
    std::string_view v = sni;
    if (!traditional() && !v.empty() && v.back() == '*') {
      s.kind = Affix::prefix;
      v.remove_suffix(1);
    } else {
      if (v.size() > 1 && v.back() == '.') v.remove_suffix(1);  // FQDN dot is not routed on
      if (!traditional() && !v.empty() && v.front() == '*') {
        s.kind = Affix::suffix;
        v.remove_prefix(1);
      }
    }
    s.value = std::string(v);
    base.snis.push_back(std::move(s));
  }

  for (const auto& hm : route.headers) {
    HeaderRule h;
    h.name = canonical_header_name(hm.name);
    if (h.name == "host") continue;
    for (size_t i = 0; i < hm.values.size(); ++i) {
      const std::string& v = hm.values[i];
      // traditional: only a single "~*" value is a regex; compat: any value may be one, and
      // Kong lower-cases the whole expression (the regex too).
      bool is_regex = starts_with(v, "~*") && (!traditional() || hm.values.size() == 1);
      if (is_regex) {
        std::string pattern = traditional() ? v.substr(2) : lower_copy(v.substr(2));
        std::string error;
        int re = compile(pattern, false, false, pattern, &error);
        if (re < 0) {
          if (errors) errors->push_back(std::move(error));
          return false;
        }
        h.regexes.push_back(re);
        if (!traditional()) continue;
      }
      h.values.push_back(lower_copy(v));
    }
    base.headers.push_back(std::move(h));
  }
  base.header_count = static_cast<int>(base.headers.size());

  // Paths: decide prefix vs regex per flavour and file format, then compile.
  struct PathSpec {
    bool regex;
    std::string text;  // prefix: the prefix; regex: the pattern (no "~")
    std::string original;
    size_t length;  // traditional max_uri_length / compat length bits
  };
  std::vector<PathSpec> specs;
  for (const std::string& p : route.paths) {
    PathSpec s{false, {}, p, p.size()};
    if (traditional()) {
      if (starts_with(p, "~")) {
        s.regex = true;
        s.text = route.legacy_paths ? detail::normalize_regex(std::string_view(p).substr(1))
                                    : p.substr(1);
      } else if (route.legacy_paths && is_legacy_regex_path(p)) {
        s.regex = true;
        s.text = detail::normalize_regex(p);
      } else {
        s.text = p;
        if (route.legacy_paths) detail::normalize(p, s.text, false);
      }
    } else {
      std::string migrated = route.legacy_paths ? migrate_legacy_path(p) : p;
      s.length = migrated.size();
      if (starts_with(migrated, "~")) {
        s.regex = true;
        s.text = migrated.substr(1);
      } else {
        s.text = std::move(migrated);
      }
    }
    specs.push_back(std::move(s));
  }

  std::vector<PathRule> rules;
  for (const PathSpec& s : specs) {
    PathRule rule;
    rule.regex = s.regex;
    rule.original = s.original;
    if (s.regex) {
      std::string error;
      // traditional: Kong 2.8's strip_regex, anchored; compat: "^" + pattern (as the ATC
      // expression), searched, so a top-level alternation is only anchored in its first branch.
      std::string pattern = traditional() ? s.text + "(?<uri_postfix>.*)" : "^" + s.text;
      rule.regex_index = compile(pattern, true, traditional(), s.text, &error);
      if (rule.regex_index < 0) {
        if (errors) errors->push_back(std::move(error));
        return false;
      }
    } else {
      rule.prefix = s.text;
    }
    rules.push_back(std::move(rule));
  }

  auto finish = [&](Candidate c, bool regex, size_t uri_length) {
    int weight = 0, bits = 0;
    if (has_hosts) ++weight, bits |= kHostBit;
    if (!c.headers.empty()) ++weight, bits |= kHeaderBit;
    if (!c.paths.empty()) ++weight, bits |= kUriBit;
    if (!c.methods.empty()) ++weight, bits |= kMethodBit;
    if (!c.snis.empty()) ++weight, bits |= kSniBit;
    c.weight = weight;
    c.bits = bits;
    if (has_hosts && !wildcard_host) c.submatch |= kPlainHostsOnly;
    if (wildcard_host_port) c.submatch |= kHasWildcardHostPort;
    if (regex) c.submatch |= kHasRegexUri;
    c.regex_priority = regex ? route.regex_priority : 0;
    c.max_uri_length = regex ? 0 : uri_length;
    // Kong 3.x priority (kong/router/transform.lua get_priority)
    uint64_t p = static_cast<uint64_t>(weight) << 61;
    if (has_hosts && !wildcard_host) p |= uint64_t{1} << 60;
    p |= static_cast<uint64_t>(std::min(c.header_count, 255)) << 52;
    if (regex) {
      p |= uint64_t{1} << 51;
      p |= (static_cast<uint64_t>(static_cast<int64_t>(route.regex_priority)) << 19) &
           ((uint64_t{1} << 51) - (uint64_t{1} << 19));
    }
    p |= uri_length & 0x7FFFF;
    c.priority = p;
    candidates_.push_back(std::move(c));
  };

  if (!has_hosts && base.headers.empty() && rules.empty() && base.methods.empty() &&
      base.snis.empty()) {
    return false;  // Kong: "could not categorize route"
  }

  if (rules.empty()) {
    base.uuid = lower_copy(route.id);
    finish(std::move(base), false, 0);
  } else if (traditional()) {
    // Kong 2.8 splits a route into one candidate per path.
    for (size_t i = 0; i < rules.size(); ++i) {
      Candidate c = base;
      c.sub_index = static_cast<uint32_t>(i);
      bool regex = rules[i].regex;
      c.paths.push_back(std::move(rules[i]));
      finish(std::move(c), regex, specs[i].length);
    }
  } else {
    // Kong 3.x groups paths: all regexes together, prefixes by length (first-seen order).
    std::vector<std::pair<size_t, std::vector<size_t>>> groups;  // key: 0 = regex, else length
    for (size_t i = 0; i < rules.size(); ++i) {
      size_t key = rules[i].regex ? 0 : specs[i].length;
      auto it = std::find_if(groups.begin(), groups.end(), [&](auto& g) { return g.first == key; });
      if (it == groups.end()) {
        groups.push_back({key, {i}});
      } else {
        it->second.push_back(i);
      }
    }
    for (size_t g = 0; g < groups.size(); ++g) {
      Candidate c = base;
      c.sub_index = static_cast<uint32_t>(g);
      c.uuid = groups.size() == 1 ? lower_copy(route.id)
                                  : uuid_v5(kSplitNamespace, fmt::format("{}#{}", route.id, g + 1));
      for (size_t i : groups[g].second) c.paths.push_back(rules[i]);
      finish(std::move(c), groups[g].first == 0, groups[g].first);
    }
  }
  return true;
}

void RouterImpl::rank() {
  std::vector<uint32_t> order(candidates_.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  auto trad_key = [](const Candidate& c) {
    // Kong 2.8: categories by (criteria count, category bits), then sort_routes(), then file
    // order (Kong's table.sort is not stable; we make equal routes keep their file order).
    return std::make_tuple(-c.weight, -c.bits, -c.submatch, -c.header_count, -c.regex_priority,
                           -static_cast<int64_t>(c.max_uri_length), c.created_at, c.route_index,
                           c.sub_index);
  };
  if (traditional()) {
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return trad_key(candidates_[a]) < trad_key(candidates_[b]);
    });
  } else {
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      const Candidate& x = candidates_[a];
      const Candidate& y = candidates_[b];
      if (x.priority != y.priority) return x.priority > y.priority;
      if (x.uuid != y.uuid) return x.uuid > y.uuid;  // ATC iterates (priority, uuid) descending
      return std::tie(x.route_index, x.sub_index) < std::tie(y.route_index, y.sub_index);
    });
  }
  std::vector<Candidate> sorted;
  sorted.reserve(candidates_.size());
  for (uint32_t i : order) sorted.push_back(std::move(candidates_[i]));
  candidates_ = std::move(sorted);
  uint32_t category = 0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    Candidate& c = candidates_[i];
    if (traditional() && i > 0) {
      const Candidate& prev = candidates_[i - 1];
      if (prev.weight != c.weight || prev.bits != c.bits) ++category;
    }
    c.category = category;
  }
}

void RouterImpl::index() {
  std::map<std::string, IdList> prefix_ids;
  for (uint32_t id = 0; id < candidates_.size(); ++id) {
    const Candidate& c = candidates_[id];
    if (!c.hosts.empty()) {
      // Every request this candidate matches matched one of its host entries.
      for (const HostRule& h : c.hosts) {
        HostMap& map = h.kind == Affix::exact    ? plain_hosts_
                       : h.kind == Affix::suffix ? wildcard_suffix_
                                                 : wildcard_prefix_;
        HostBucket& bucket = map[h.host];
        IdList* ids = &bucket.any_port;
        if (h.port != 0) {
          auto it = std::find_if(bucket.ports.begin(), bucket.ports.end(),
                                 [&](auto& p) { return p.first == h.port; });
          if (it == bucket.ports.end()) {
            bucket.ports.push_back({h.port, {}});
            it = bucket.ports.end() - 1;
          }
          ids = &it->second;
        }
        if (ids->empty() || ids->back() != id) ids->push_back(id);
      }
      continue;
    }
    bool all_prefix = !c.paths.empty() && std::none_of(c.paths.begin(), c.paths.end(),
                                                       [](const PathRule& p) { return p.regex; });
    if (all_prefix) {
      for (const PathRule& p : c.paths) {
        IdList& ids = prefix_ids[p.prefix];
        if (ids.empty() || ids.back() != id) ids.push_back(id);
      }
      continue;
    }
    others_.push_back(id);
  }
  for (auto& [prefix, ids] : prefix_ids) {
    PrefixNode node;
    node.prefix = prefix;
    node.ids = std::move(ids);
    // parent: the longest earlier (smaller) node that is a prefix of this one. Every prefix of
    // `prefix` sorts before it, so walk back along the previous node's parent chain.
    for (int j = static_cast<int>(prefixes_.size()) - 1; j >= 0;) {
      if (starts_with(prefix, prefixes_[j].prefix)) {
        node.parent = j;
        break;
      }
      j = prefixes_[j].parent;
    }
    prefixes_.push_back(std::move(node));
  }
}

void RouterImpl::build(const Config& config, std::vector<std::string>* errors) {
  for (uint32_t i = 0; i < config.routes.size(); ++i) {
    if (add_route(config, i, errors)) ++route_count_;
  }
  rank();
  index();
}

bool RouterImpl::host_ok(const Candidate& c, const RequestView& r) const {
  if (!r.has_host) return false;
  for (const HostRule& h : c.hosts) {
    if (h.port != 0 && h.port != r.port) continue;
    switch (h.kind) {
      case Affix::exact:
        if (r.host == h.host) return true;
        break;
      case Affix::suffix:
        // traditional: ".+\.x\.com" needs at least one character before the suffix
        if (ends_with(r.host, h.host) && (!traditional() || r.host.size() > h.host.size())) {
          return true;
        }
        break;
      case Affix::prefix:
        if (starts_with(r.host, h.host) && (!traditional() || r.host.size() > h.host.size())) {
          return true;
        }
        break;
    }
  }
  return false;
}

bool RouterImpl::regex_search(int index, std::string_view subject) const {
  const Regex& re = regexes_[index];
  pcre2_match_data* md = thread_match_data(max_pairs_);
  if (!md) return false;
  int rc = pcre2_match(re.code.get(), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(),
                       0, 0, md, match_context_.get());
  return rc >= 0;
}

bool RouterImpl::headers_ok(const Candidate& c, const RequestView& r) const {
  thread_local std::string lowered;
  for (const HeaderRule& rule : c.headers) {
    bool found = false;
    for (const Header& h : r.headers) {
      if (!header_name_equals(h.name, rule.name)) continue;
      for (const std::string& v : rule.values) {
        if (iequals_lower(h.value, v)) {
          found = true;
          break;
        }
      }
      if (!found && !rule.regexes.empty()) {
        lowered.assign(h.value);
        for (char& ch : lowered) ch = ascii_lower(ch);
        for (int re : rule.regexes) {
          if (regex_search(re, lowered)) {
            found = true;
            break;
          }
        }
      }
      if (found) break;
    }
    if (!found) return false;
  }
  return true;
}

bool RouterImpl::snis_ok(const Candidate& c, const RequestView& r) const {
  if (traditional() ? r.scheme == "http" : r.scheme != "https") return true;
  for (const SniRule& s : c.snis) {
    switch (s.kind) {
      case Affix::exact:
        if (r.sni == s.value) return true;
        break;
      case Affix::suffix:
        if (ends_with(r.sni, s.value)) return true;
        break;
      case Affix::prefix:
        if (starts_with(r.sni, s.value)) return true;
        break;
    }
  }
  return false;
}

bool RouterImpl::try_candidate(const Candidate& c, const RequestView& r, Match& out) const {
  if (!c.methods.empty() &&
      std::find(c.methods.begin(), c.methods.end(), r.method) == c.methods.end()) {
    return false;
  }
  if (!c.snis.empty() && !snis_ok(c, r)) return false;
  if (!c.hosts.empty() && !host_ok(c, r)) return false;
  if (!c.headers.empty() && !headers_ok(c, r)) return false;

  const PathRule* matched = nullptr;
  std::string_view prefix;  // text the path rule matched (what strip_path removes)
  pcre2_match_data* md = nullptr;
  const Regex* re = nullptr;
  if (!c.paths.empty()) {
    if (r.path.empty()) return false;
    for (const PathRule& p : c.paths) {
      if (!p.regex) {
        if (starts_with(r.path, p.prefix)) {
          matched = &p;
          prefix = r.path.substr(0, p.prefix.size());
          break;
        }
        continue;
      }
      const Regex& rx = regexes_[p.regex_index];
      pcre2_match_data* data = thread_match_data(max_pairs_);
      if (!data) return false;
      int rc = pcre2_match(rx.code.get(), reinterpret_cast<PCRE2_SPTR>(r.path.data()),
                           r.path.size(), 0, 0, data, match_context_.get());
      if (rc < 0) continue;
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
      matched = &p;
      md = data;
      re = &rx;
      if (rx.postfix_group != 0) {
        // Kong 2.8: uri_prefix = the request path minus the (?<uri_postfix>.*) text
        PCRE2_SIZE s = ov[2 * rx.postfix_group], e = ov[2 * rx.postfix_group + 1];
        if (s != PCRE2_UNSET && e >= s && e - s <= r.path.size()) {
          prefix = r.path.substr(0, r.path.size() - (e - s));
        }
      } else if (ov[0] != PCRE2_UNSET && ov[1] >= ov[0]) {
        prefix = r.path.substr(ov[0], ov[1] - ov[0]);
      }
      break;
    }
    if (!matched) return false;
  }

  out.route = c.route;
  out.service = c.service;
  if (matched) {
    out.matched_path.assign(matched->original);
  } else {
    out.matched_path.clear();
  }
  std::string_view stripped = c.strip_path ? prefix : std::string_view{};
  out.stripped_prefix.assign(stripped);
  std::string_view base = "/";
  if (c.service && c.service->path) base = *c.service->path;
  detail::join_escaped(out.upstream_path, base, r.path, stripped, c.strip_path, c.v1);

  size_t n = 0;
  if (re) {
    uint32_t user_groups = re->postfix_group != 0 ? re->groups - 1 : re->groups;
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    uint32_t pairs = pcre2_get_ovector_count(md);
    if (out.captures.size() < user_groups) out.captures.resize(user_groups);
    for (uint32_t g = 1; g <= re->groups; ++g) {
      if (g == re->postfix_group) continue;
      Capture& cap = out.captures[n++];
      cap.index = static_cast<int>(g);
      cap.name.assign(re->names[g]);
      if (g < pairs && ov[2 * g] != PCRE2_UNSET && ov[2 * g + 1] >= ov[2 * g]) {
        cap.value.assign(r.path.data() + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
      } else {
        cap.value.clear();
      }
    }
  }
  out.captures.resize(n);
  return true;
}

bool RouterImpl::match(const Request& request, Match& out) const {
  RequestView r;
  r.method = request.method;
  r.path = request.path;
  r.scheme = request.scheme;
  r.sni = request.sni;
  r.headers = request.headers;
  HostPort hp = split_host_port(request.host);
  r.host = hp.host;
  r.has_host = !request.host.empty();
  r.explicit_port = hp.has_port;
  if (hp.has_port) {
    r.port = hp.port;
  } else if (traditional()) {
    r.port = request.scheme == "https" ? 443 : 80;  // Kong 2.8: default port of the scheme
  } else {
    r.port = request.listen_port;  // Kong 3.x: net.dst.port
  }

  thread_local std::vector<Cursor> cursors;
  cursors.clear();
  auto add = [&](const IdList* ids, uint32_t tier) {
    if (ids && !ids->empty()) cursors.push_back({ids->data(), ids->data() + ids->size(), tier});
  };

  if (r.has_host) {
    // Kong 2.8 first tries, within a category, the routes whose plain host entry equals the raw
    // Host header (its "reduced" candidate set): tier 0 for those, tier 1 for everything else.
    const uint32_t exact_tier = traditional() ? 0 : 1;
    if (auto it = plain_hosts_.find(r.host); it != plain_hosts_.end()) {
      add(&it->second.any_port, r.explicit_port ? 1 : exact_tier);
      if (r.port > 0) add(it->second.for_port(r.port), r.explicit_port ? exact_tier : 1);
    }
    auto add_wildcard = [&](const HostMap& map, std::string_view key) {
      if (auto it = map.find(key); it != map.end()) {
        add(&it->second.any_port, 1);
        if (r.port > 0) add(it->second.for_port(r.port), 1);
      }
    };
    if (!wildcard_suffix_.empty() || !wildcard_prefix_.empty()) {
      for (size_t i = 0; i < r.host.size(); ++i) {
        if (r.host[i] != '.') continue;
        if (!wildcard_suffix_.empty()) add_wildcard(wildcard_suffix_, r.host.substr(i));
        if (!wildcard_prefix_.empty()) add_wildcard(wildcard_prefix_, r.host.substr(0, i + 1));
      }
    }
  }

  if (!prefixes_.empty() && !r.path.empty()) {
    // The greatest indexed prefix <= path; the path's indexed prefixes are on its parent chain.
    auto it = std::upper_bound(prefixes_.begin(), prefixes_.end(), r.path,
                               [](std::string_view path, const PrefixNode& n) {
                                 return path < std::string_view(n.prefix);
                               });
    int j = static_cast<int>(it - prefixes_.begin()) - 1;
    while (j >= 0) {
      const PrefixNode& node = prefixes_[j];
      if (starts_with(r.path, node.prefix)) add(&node.ids, 1);
      j = node.parent;
    }
  }
  add(&others_, 1);

  // Merge the sorted lists by (category, tier, id): the first candidate that fully matches wins.
  const bool trad = traditional();
  for (;;) {
    Cursor* best = nullptr;
    uint64_t best_key = UINT64_MAX;
    for (Cursor& cur : cursors) {
      if (cur.it == cur.end) continue;
      uint32_t id = *cur.it;
      uint64_t key = trad ? (static_cast<uint64_t>(candidates_[id].category) << 33) |
                                (static_cast<uint64_t>(cur.tier) << 32) | id
                          : id;
      if (key < best_key) {
        best_key = key;
        best = &cur;
      }
    }
    if (!best) return false;
    uint32_t id = *best->it++;
    if (try_candidate(candidates_[id], r, out)) return true;
  }
}

}  // namespace

std::unique_ptr<Router> Router::build(const sb::config::Config& config, Flavor flavor,
                                      std::vector<std::string>* errors) {
  return std::make_unique<RouterImpl>(config, flavor, errors);
}

std::string_view flavor_name(Flavor flavor) {
  return flavor == Flavor::traditional ? "traditional" : "traditional_compatible";
}

bool parse_flavor(std::string_view name, Flavor* flavor) {
  if (name == "traditional") {
    *flavor = Flavor::traditional;
    return true;
  }
  if (name == "traditional_compatible") {
    *flavor = Flavor::traditional_compatible;
    return true;
  }
  return false;
}

}  // namespace sb::router
