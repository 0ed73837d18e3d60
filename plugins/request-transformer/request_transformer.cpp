#include "request_transformer.h"

#include <algorithm>
#include <optional>
#include <random>
#include <string_view>

#include "json.h"
#include "json_edit.h"
#include "multipart.h"
#include "scratch.h"
#include "text.h"
#include "url.h"

namespace sbp {

namespace {

using Entries = std::vector<RequestTransformer::Entry>;

// ---- Config compilation ------------------------------------------------------------------------

enum class ListKind { kBody, kHeaders, kQuerystring };
enum class Section { kRemove, kRename, kReplace, kAdd, kAppend };

std::string field_path(std::string_view section, std::string_view list, size_t i) {
  return "config." + std::string(section) + "." + std::string(list) + "[" + std::to_string(i) +
         "]: ";
}

[[noreturn]] void reject(const std::string& where, const std::string& what) {
  throw sb::ConfigError(where + what);
}

rt::Template compile_template(std::string_view value, const std::string& where) {
  std::string err;
  std::optional<rt::Template> t = rt::Template::compile(value, &err);
  if (!t) {
    reject(where, "value '" + std::string(value) + "' is not in supported format, error:" + err);
  }
  return std::move(*t);
}

// Validates and compiles one entry array the way Kong's schema.lua validators do.
Entries compile_list(const sb::Value& arr, Section section, ListKind kind,
                     std::string_view section_name, std::string_view list_name) {
  Entries out;
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string where = field_path(section_name, list_name, i);
    sb::Value item = arr.at(i);
    if (!item.is_string()) reject(where, "expected a string");
    std::string_view entry = item.str();
    std::optional<NameValue> nv = split_entry(entry);
    bool colon_list = section != Section::kRemove;
    if (kind == ListKind::kHeaders) {
      // colon_header_value_array / colon_headers_array: match "^[^:]+:.*$" first.
      if (colon_list &&
          (entry.empty() || entry.front() == ':' || entry.find(':') == std::string_view::npos)) {
        reject(where, "invalid value: " + std::string(entry));
      }
      if (!nv || !valid_header_name(nv->name)) {
        reject(where,
               "'" + (nv ? std::string(nv->name) : std::string("nil")) + "' is not a valid header");
      }
      if (section == Section::kRename && !valid_header_name(nv->value)) {
        reject(where, "'" + std::string(nv->value) + "' is not a valid header");
      }
    } else if (colon_list) {
      // check_for_value: a value is required and must compile as a template.
      if (!nv || nv->value.empty()) {
        reject(where, "key '" + (nv ? std::string(nv->name) : std::string()) + "' has no value");
      }
    } else if (!nv) {
      reject(where, "invalid value: " + std::string(entry));
    }
    RequestTransformer::Entry e;
    e.name = std::string(nv->name);
    e.name_lower = lower(nv->name);
    // remove entries are names only (Kong would render a value and ignore it).
    if (section != Section::kRemove && !nv->value.empty()) {
      e.has_value = true;
      e.value = compile_template(nv->value, where);
      e.value_lower = lower(nv->value);
    }
    out.push_back(std::move(e));
  }
  return out;
}

RequestTransformer::Lists compile_lists(const sb::Value& conf, Section section,
                                        std::string_view name) {
  sb::Value rec = conf[name];
  RequestTransformer::Lists l;
  l.body = compile_list(rec["body"], section, ListKind::kBody, name, "body");
  l.headers = compile_list(rec["headers"], section, ListKind::kHeaders, name, "headers");
  l.querystring =
      compile_list(rec["querystring"], section, ListKind::kQuerystring, name, "querystring");
  return l;
}

void collect_header_keys(const Entries& entries, std::vector<std::string>& out) {
  for (const auto& e : entries) {
    if (e.has_value) e.value.header_keys(out);
  }
}

// ---- Per-request state -------------------------------------------------------------------------

constexpr std::string_view kContentType = "Content-Type";

enum class BodyType { kNone, kJson, kMultipart, kForm };

// access.lua's get_content_type(): case-insensitive substring tests, JSON first.
BodyType body_type(std::optional<std::string_view> ct) {
  if (!ct) return BodyType::kNone;
  if (icontains(*ct, "application/json")) return BodyType::kJson;
  if (icontains(*ct, "multipart/form-data")) return BodyType::kMultipart;
  if (icontains(*ct, "application/x-www-form-urlencoded")) return BodyType::kForm;
  return BodyType::kNone;
}

bool is_host(std::string_view name) { return iequals(name, "host"); }

// The header table access.lua builds (kong.request.get_headers() minus host), kept as changes
// over the live request headers; applied in one go at the end like Kong's set_headers().
struct HeaderSlot {
  enum class T : uint8_t { kUntouched, kNil, kSet };
  std::string_view key;      // a configured name (compared case-insensitively, '_' = '-')
  std::string_view display;  // name to write; empty: the live header's own name
  std::string_view live;     // the live header's name, once looked up
  bool clear_first = false;  // Kong's headers_to_remove
  T t = T::kUntouched;
  std::vector<std::string_view> values;
};

// A flat list of decoded query/form arguments with Kong's table operations on it.
struct ArgList {
  std::vector<url::Arg> args;
  size_t n = 0;

  void clear() { n = 0; }
  bool any(std::string_view name) const {
    for (size_t i = 0; i < n; ++i) {
      if (args[i].name == name) return true;
    }
    return false;
  }
  std::optional<std::string_view> first(std::string_view name) const {
    for (size_t i = 0; i < n; ++i) {
      if (args[i].name == name) return args[i].flag ? std::string_view("true") : args[i].value;
    }
    return std::nullopt;
  }
  url::Arg& push(std::string_view name) {
    if (n == args.size()) args.emplace_back();
    url::Arg& a = args[n++];
    a.name.assign(name);
    a.value.clear();
    a.flag = false;
    return a;
  }
  void push(std::string_view name, std::string_view value) { push(name).value.assign(value); }
  void push_arg(const url::Arg& src) {
    url::Arg& a = push(src.name);
    a.value.assign(src.value);
    a.flag = src.flag;
  }
  void erase_at(size_t i) {
    std::rotate(args.begin() + static_cast<std::ptrdiff_t>(i),
                args.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                args.begin() + static_cast<std::ptrdiff_t>(n));
    --n;
  }
  void erase_all(std::string_view name) {
    for (size_t i = n; i-- > 0;) {
      if (args[i].name == name) erase_at(i);
    }
  }
  // tbl[name] = value: the first occurrence takes the value, later ones go.
  void replace_all(std::string_view name, std::string_view value) {
    bool done = false;
    for (size_t i = 0; i < n;) {
      if (args[i].name != name) {
        ++i;
      } else if (!done) {
        args[i].value.assign(value);
        args[i].flag = false;
        done = true;
        ++i;
      } else {
        erase_at(i);
      }
    }
    if (!done) push(name, value);
  }
  // tbl[to] = tbl[from]; tbl[from] = nil (when tbl[from] is set and the names differ).
  bool rename(std::string_view from, std::string_view to) {
    if (from == to || !any(from)) return false;
    erase_all(to);
    for (size_t i = 0; i < n; ++i) {
      if (args[i].name == from) args[i].name.assign(to);
    }
    return true;
  }
  // access.lua's append_value(): a string gains a second value, a list grows, `true` (a flag) or
  // nothing becomes { value }.
  void append(std::string_view name, std::string_view value) {
    size_t count = 0, last = 0;
    for (size_t i = 0; i < n; ++i) {
      if (args[i].name == name) {
        ++count;
        last = i;
      }
    }
    if (count == 1 && args[last].flag) {
      args[last].flag = false;
      args[last].value.assign(value);
      return;
    }
    push(name, value);
  }
  void copy_from(const ArgList& o) {
    clear();
    for (size_t i = 0; i < o.n; ++i) push_arg(o.args[i]);
  }
};

// Everything a request needs, reused by the worker thread from request to request.
struct Scratch {
  StringPool pool;
  std::vector<HeaderSlot> slots;
  size_t nslots = 0;
  ArgList query;      // the query as set upstream (after the http_method merge)
  ArgList query_env;  // `query_params` as the template saw it, when it differs from `query`
  ArgList form;
  json::Document doc;
  json::ObjectEditor editor;
  multipart::Body multipart;
  std::string out;
  std::vector<std::pair<std::string_view, std::optional<std::string_view>>> frozen_headers;
  std::vector<std::string_view> tmp_values;
};

thread_local Scratch t_scratch;

class Run {
 public:
  Run(sb::Ctx& ctx, const RequestTransformer::Config& cfg)
      : ctx_(ctx), api_(ctx.api()), raw_(ctx.raw()), cfg_(cfg), s_(t_scratch) {
    s_.pool.reset();
    s_.nslots = 0;
    s_.frozen_headers.clear();
    s_.query.clear();
    s_.query_env.clear();
  }

  sb::Result execute() {
    if (!transform_uri()) return sb::Result::Error;
    if (!transform_method()) return sb::Result::Error;
    if (cfg_.header_ops) transform_headers();
    if (!transform_body()) return sb::Result::Error;
    if (cfg_.qs_ops) transform_querystring();
    if (query_dirty_) {
      s_.out.clear();
      url::encode_sorted(s_.out, s_.query.args, s_.query.n);
      sb::Status st = api_->var_set(raw_, SB_VAR_UPSTREAM_QUERY, sb::str(s_.out));
      if (!st) {
        ctx_.log().err("[request-transformer] setting the upstream query failed: ", st.name());
        return sb::Result::Error;
      }
    }
    keep_client_host();
    return sb::Result::Continue;
  }

 private:
  // ---- Templates (the lazily loaded environment of access.lua's execute()) ----

  std::optional<std::string_view> lookup(rt::Root root, std::string_view key, bool numeric) {
    sb_str out{nullptr, 0};
    switch (root) {
      case rt::Root::kHeaders:
        if (numeric) return std::nullopt;
        if (headers_frozen_) {
          for (const auto& [k, v] : s_.frozen_headers) {
            if (k == key) return v;
          }
          return std::nullopt;
        }
        headers_loaded_ = true;
        if (api_->hdr_get(raw_, SB_HDR_REQUEST, sb::str(key), 0, &out, nullptr) != SB_OK) {
          return std::nullopt;
        }
        return sb::view(out);
      case rt::Root::kQueryParams:
        if (numeric) return std::nullopt;
        return query_env().first(key);
      case rt::Root::kUriCaptures:
        if (api_->route_capture(raw_, sb::str(key), &out) != SB_OK) return std::nullopt;
        return sb::view(out);
      case rt::Root::kShared:
        if (numeric) return std::nullopt;
        if (api_->shared_get(raw_, sb::str(key), &out) != SB_OK) return std::nullopt;
        return sb::view(out);
    }
    return std::nullopt;
  }

  // Renders a value; literal templates are views of the config, others live in the pool.
  std::string_view render(const rt::Template& t) {
    if (t.literal()) return t.source();
    std::string& buf = s_.pool.acquire();
    t.render(buf, [this](rt::Root r, std::string_view k, bool n) { return lookup(r, k, n); });
    return buf;
  }

  // ---- Query ----

  void load_query() {
    if (query_loaded_) return;
    query_loaded_ = true;
    sb_str q{nullptr, 0};
    if (api_->var_get(raw_, SB_VAR_UPSTREAM_QUERY, &q) != SB_OK &&
        api_->var_get(raw_, SB_VAR_RAW_QUERY, &q) != SB_OK) {
      q = sb_str{nullptr, 0};
    }
    s_.query.n = url::parse_args(sb::view(q), s_.query.args, 0);
  }
  // `query_params`: kong.request.get_query() at its first use.
  const ArgList& query_env() {
    load_query();
    env_loaded_ = true;
    return env_frozen_ ? s_.query_env : s_.query;
  }

  // ---- replace.uri ----

  bool transform_uri() {
    if (!cfg_.has_uri || cfg_.uri.source().empty()) return true;
    std::string_view path = render(cfg_.uri);
    if (path.empty() || path.front() != '/') {
      ctx_.log().err("[request-transformer] failed to set the upstream path '", path,
                     "': path must start with /");
      return false;
    }
    std::string& escaped = s_.pool.acquire();
    url::escape_path(escaped, path);
    sb::Status st = api_->var_set(raw_, SB_VAR_UPSTREAM_PATH, sb::str(escaped));
    if (!st) {
      ctx_.log().err("[request-transformer] failed to set the upstream path '", escaped,
                     "': ", st.name());
      return false;
    }
    return true;
  }

  // ---- http_method ----

  std::optional<std::string_view> content_type() {
    sb_str out{nullptr, 0};
    if (api_->hdr_get(raw_, SB_HDR_REQUEST, sb::str(kContentType), 0, &out, nullptr) != SB_OK) {
      return std::nullopt;
    }
    return sb::view(out);
  }

  // The client body; nullopt (logged) when the host cannot hand it over (e.g. over its buffer
  // limit). Kong then transforms as if the body were empty and replaces it; Silverback leaves
  // the body alone rather than drop it.
  std::optional<std::string_view> request_body() {
    sb_str out{nullptr, 0};
    sb::Status st = api_->request_body_get(raw_, &out);
    if (!st) {
      ctx_.log().warn("[request-transformer] cannot read the request body (", st.name(),
                      "): body left as is");
      return std::nullopt;
    }
    return sb::view(out);
  }

  bool transform_method() {
    if (cfg_.http_method.empty()) return true;
    sb::Status st = api_->var_set(raw_, SB_VAR_UPSTREAM_METHOD, sb::str(cfg_.http_method));
    if (!st) {
      ctx_.log().err("[request-transformer] setting the upstream method failed: ", st.name());
      return false;
    }
    if (!cfg_.method_moves_body || body_type(content_type()) != BodyType::kForm) return true;
    std::optional<std::string_view> body = request_body();
    if (!body) return true;
    s_.form.n = url::parse_args(*body, s_.form.args, 0);
    if (s_.form.n == 0) return true;
    load_query();
    if (env_loaded_ && !env_frozen_) {
      // A template already read query_params: it keeps seeing the query before the merge.
      s_.query_env.copy_from(s_.query);
      env_frozen_ = true;
    }
    for (size_t i = 0; i < s_.form.n; ++i) s_.query.push_arg(s_.form.args[i]);
    query_dirty_ = true;
    return true;
  }

  // ---- Headers ----

  int find_slot(std::string_view key) const {
    for (size_t i = 0; i < s_.nslots; ++i) {
      if (header_name_equals(s_.slots[i].key, key)) return static_cast<int>(i);
    }
    return -1;
  }
  size_t slot(std::string_view key) {
    int i = find_slot(key);
    if (i >= 0) return static_cast<size_t>(i);
    if (s_.nslots == s_.slots.size()) s_.slots.emplace_back();
    HeaderSlot& h = s_.slots[s_.nslots];
    h.key = key;
    h.display = {};
    h.live = {};
    h.clear_first = false;
    h.t = HeaderSlot::T::kUntouched;
    h.values.clear();
    return s_.nslots++;
  }
  size_t live_count(std::string_view key) const {
    size_t count = 0;
    if (api_->hdr_get(raw_, SB_HDR_REQUEST, sb::str(key), 0, nullptr, &count) != SB_OK) return 0;
    return count;
  }
  // headers[key] ~= nil in access.lua's table.
  bool present(std::string_view key) const {
    int i = find_slot(key);
    if (i >= 0 && s_.slots[static_cast<size_t>(i)].t != HeaderSlot::T::kUntouched) {
      return s_.slots[static_cast<size_t>(i)].t == HeaderSlot::T::kSet;
    }
    return !is_host(key) && live_count(key) > 0;
  }
  // The live header's name as the client sent it (for writes that keep it).
  std::string_view live_name(std::string_view key) {
    size_t n = 0;
    if (api_->hdr_count(raw_, SB_HDR_REQUEST, &n) != SB_OK) return {};
    for (size_t i = 0; i < n; ++i) {
      sb_header h{};
      if (api_->hdr_at(raw_, SB_HDR_REQUEST, i, &h) == SB_OK &&
          header_name_equals(sb::view(h.name), key)) {
        return s_.pool.keep(sb::view(h.name));
      }
    }
    return {};
  }
  // Makes slot i hold its current values explicitly (copying live ones into the pool).
  void materialize(size_t i) {
    HeaderSlot& h = s_.slots[i];
    if (h.t != HeaderSlot::T::kUntouched) return;
    h.t = HeaderSlot::T::kSet;
    h.values.clear();
    if (is_host(h.key)) return;
    size_t count = live_count(h.key);
    for (size_t k = 0; k < count; ++k) {
      sb_str v{nullptr, 0};
      if (api_->hdr_get(raw_, SB_HDR_REQUEST, sb::str(h.key), k, &v, nullptr) == SB_OK) {
        h.values.push_back(s_.pool.keep(sb::view(v)));
      }
    }
    if (h.live.empty()) h.live = live_name(h.key);
    if (h.display.empty()) h.display = h.live;
  }
  void set_single(size_t i, std::string_view value) {
    HeaderSlot& h = s_.slots[i];
    if (h.t == HeaderSlot::T::kUntouched && h.live.empty()) h.live = live_name(h.key);
    if (h.display.empty()) h.display = h.live;
    h.t = HeaderSlot::T::kSet;
    h.values.clear();
    h.values.push_back(value);
  }

  void transform_headers() {
    // Remove header(s)
    for (const auto& e : cfg_.remove.headers) {
      if (!present(e.name_lower)) continue;
      HeaderSlot& h = s_.slots[slot(e.name_lower)];
      h.t = HeaderSlot::T::kNil;
      h.values.clear();
      h.clear_first = true;
    }
    // Rename header(s)
    for (const auto& e : cfg_.rename.headers) {
      std::string_view to = e.has_value ? render(e.value) : std::string_view();
      if (to.empty()) continue;
      if (header_name_equals(e.name, to)) {
        // Only the case changes (or nothing): the header keeps its values under the new name.
        if (e.name == to || !present(e.name)) continue;
        size_t i = slot(e.name);
        materialize(i);
        s_.slots[i].display = s_.pool.keep(to);
        s_.slots[i].clear_first = true;
        continue;
      }
      if (!present(e.name_lower)) continue;
      size_t from = slot(e.name_lower);
      materialize(from);
      s_.tmp_values = s_.slots[from].values;
      size_t dst = slot(e.value_lower);
      HeaderSlot& nh = s_.slots[dst];
      nh.t = HeaderSlot::T::kSet;
      nh.values = s_.tmp_values;
      nh.display = nh.key;
      HeaderSlot& oh = s_.slots[from];
      oh.t = HeaderSlot::T::kNil;
      oh.values.clear();
      oh.clear_first = true;
    }
    // Replace header(s): existing ones, and Host.
    for (const auto& e : cfg_.replace.headers) {
      std::optional<std::string_view> v;
      if (e.has_value) v = render(e.value);
      if (!present(e.name_lower) && !is_host(e.name_lower)) continue;
      size_t i = slot(e.name_lower);
      if (!v) {
        s_.slots[i].t = HeaderSlot::T::kNil;  // headers[name] = nil: left as it is upstream
        s_.slots[i].values.clear();
        continue;
      }
      if (s_.slots[i].display.empty() && is_host(e.name_lower)) s_.slots[i].display = "host";
      set_single(i, *v);
    }
    // Add header(s): missing ones, never Host; the configured case is kept.
    for (const auto& e : cfg_.add.headers) {
      std::optional<std::string_view> v;
      if (e.has_value) v = render(e.value);
      if (!v || present(e.name) || is_host(e.name)) continue;
      size_t i = slot(e.name);
      s_.slots[i].display = e.name;
      set_single(i, *v);
    }
    // Append header(s)
    for (const auto& e : cfg_.append.headers) {
      std::optional<std::string_view> v;
      if (e.has_value) v = render(e.value);
      if (is_host(e.name)) {
        // Kong hands a table to upstream_host and fails; Silverback sets Host.
        if (!v) continue;
        size_t i = slot(e.name_lower);
        s_.slots[i].display = "host";
        set_single(i, *v);
        continue;
      }
      bool exists = present(e.name);
      if (exists && e.name != e.name_lower) {
        // "keep original content, use configured case"
        size_t i = slot(e.name);
        materialize(i);
        s_.slots[i].display = e.name;
      }
      if (!v) continue;
      size_t i = slot(e.name);
      if (exists) {
        materialize(i);
        s_.slots[i].values.push_back(*v);
      } else {
        s_.slots[i].display = e.name;
        s_.slots[i].t = HeaderSlot::T::kSet;
        s_.slots[i].values.clear();
        s_.slots[i].values.push_back(*v);
      }
    }
    freeze_headers_for_later_templates();
    apply_headers();
  }

  // In Kong the template `headers` table is loaded once, at its first use. If a uri/header
  // template already read it, body and querystring templates still see the headers as they
  // were before the header changes below; keep those values.
  void freeze_headers_for_later_templates() {
    if (!headers_loaded_ || cfg_.late_header_keys.empty()) return;
    for (const std::string& k : cfg_.late_header_keys) {
      sb_str v{nullptr, 0};
      std::optional<std::string_view> value;
      if (api_->hdr_get(raw_, SB_HDR_REQUEST, sb::str(k), 0, &v, nullptr) == SB_OK) {
        value = s_.pool.keep(sb::view(v));
      }
      s_.frozen_headers.emplace_back(k, value);
    }
    headers_frozen_ = true;
  }

  void apply_headers() {
    const uint32_t map = SB_HDR_UPSTREAM_REQUEST;
    for (size_t i = 0; i < s_.nslots; ++i) {
      const HeaderSlot& h = s_.slots[i];
      if (h.clear_first) api_->hdr_remove(raw_, map, sb::str(h.key));
      if (h.t != HeaderSlot::T::kSet) continue;
      std::string_view name = is_host(h.key)      ? std::string_view("Host")
                              : h.display.empty() ? h.key
                                                  : h.display;
      if (h.values.empty()) {
        api_->hdr_remove(raw_, map, sb::str(h.key));
        continue;
      }
      // A new name (case) for an existing header: rewrite it instead of replacing in place.
      if (!h.live.empty() && name != h.live) api_->hdr_remove(raw_, map, sb::str(h.key));
      sb::Status st = api_->hdr_set(raw_, map, sb::str(name), sb::str(h.values[0]));
      for (size_t k = 1; st && k < h.values.size(); ++k) {
        st = api_->hdr_add(raw_, map, sb::str(name), sb::str(h.values[k]));
      }
      if (!st) {
        ctx_.log().warn("[request-transformer] cannot set header '", name, "': ", st.name());
      }
    }
  }

  // Kong's transform_headers ends with set_headers(<every request header>), Host included, so
  // the upstream receives the client's Host whenever this plugin runs (unless a rule changed
  // Host). Done last: setting a header invalidates the views templates may still hold.
  void keep_client_host() {
    for (size_t i = 0; i < s_.nslots; ++i)
      if (is_host(s_.slots[i].key)) return;
    sb_str host{nullptr, 0};
    if (api_->hdr_get(raw_, SB_HDR_REQUEST, sb::str("Host"), 0, &host, nullptr) != SB_OK) return;
    std::string copy(sb::view(host));  // the set below may move what `host` points into
    api_->hdr_set(raw_, SB_HDR_UPSTREAM_REQUEST, sb::str("Host"), sb::str(copy));
  }

  // ---- Body ----

  bool transform_body() {
    if (!cfg_.body_ops) return true;
    std::optional<std::string_view> ct = content_type();
    BodyType type = body_type(ct);
    if (type == BodyType::kNone) return true;
    std::optional<std::string_view> body = request_body();
    if (!body) return true;
    s_.out.clear();
    bool changed = false;
    switch (type) {
      case BodyType::kForm:
        changed = transform_form(*body);
        break;
      case BodyType::kMultipart:
        changed = transform_multipart(*body, *ct);
        break;
      case BodyType::kJson:
        changed = transform_json(*body);
        break;
      case BodyType::kNone:
        break;
    }
    if (!changed) return true;
    sb::Status st = api_->request_body_set(raw_, sb::str(s_.out));
    if (!st) {
      ctx_.log().err("[request-transformer] setting the request body failed: ", st.name());
      return false;
    }
    return true;
  }

  bool transform_json(std::string_view body) {
    const bool nonempty = !body.empty();
    const auto& c = cfg_;
    bool removed = false, renamed = false, replaced = false, added = false, appended = false;
    json::ObjectEditor& ed = s_.editor;
    if (!s_.doc.parse(body)) {
      if (nonempty) return false;  // malformed JSON is left as it is
      ed.load_empty();
    } else if (s_.doc.root().kind == json::Kind::kArray) {
      // A Lua array: string keys never match and are not encoded; only re-encoding remains.
      removed = nonempty && !c.remove.body.empty();
      added = !c.add.body.empty();
      appended = !c.append.body.empty();
      if (!(removed || added || appended)) return false;
      json::write_compact(s_.out, s_.doc, 0);
      return true;
    } else if (s_.doc.root().kind != json::Kind::kObject) {
      ctx_.log().warn("[request-transformer] JSON body is not an object or array, left as is");
      return false;
    } else {
      ed.load(s_.doc, s_.pool);
    }
    if (nonempty) {
      for (const auto& e : c.remove.body) {
        ed.remove(e.name);
        removed = true;
      }
      for (const auto& e : c.rename.body) {
        std::string_view to = render(e.value);
        if (e.name == to || !ed.truthy(e.name)) continue;
        renamed = ed.rename(e.name, to) || renamed;
      }
      for (const auto& e : c.replace.body) {
        std::string_view v = render(e.value);
        if (!ed.truthy(e.name)) continue;
        ed.set(e.name, json::Item::string(v));
        replaced = true;
      }
    }
    for (const auto& e : c.add.body) {
      std::string_view v = render(e.value);
      if (ed.truthy(e.name)) continue;
      ed.set(e.name, json::Item::string(v));
      added = true;
    }
    for (const auto& e : c.append.body) {
      ed.append(e.name, json::Item::string(render(e.value)));
      appended = true;
    }
    if (!(removed || renamed || replaced || added || appended)) return false;
    ed.write(s_.out);
    return true;
  }

  bool transform_form(std::string_view body) {
    const bool nonempty = !body.empty();
    const auto& c = cfg_;
    ArgList& f = s_.form;
    f.n = url::parse_args(body, f.args, 0);
    bool removed = false, renamed = false, replaced = false, added = false, appended = false;
    if (nonempty) {
      for (const auto& e : c.remove.body) {
        f.erase_all(e.name);
        removed = true;
      }
      for (const auto& e : c.rename.body) renamed = f.rename(e.name, render(e.value)) || renamed;
      for (const auto& e : c.replace.body) {
        std::string_view v = render(e.value);
        if (!f.any(e.name)) continue;
        f.replace_all(e.name, v);
        replaced = true;
      }
    }
    for (const auto& e : c.add.body) {
      std::string_view v = render(e.value);
      if (f.any(e.name)) continue;
      f.push(e.name, v);
      added = true;
    }
    for (const auto& e : c.append.body) {
      f.append(e.name, render(e.value));
      appended = true;
    }
    if (!(removed || renamed || replaced || added || appended)) return false;
    url::encode_in_order(s_.out, f.args, f.n);
    return true;
  }

  bool transform_multipart(std::string_view body, std::string_view ct) {
    const bool nonempty = !body.empty();
    const auto& c = cfg_;
    std::optional<std::string_view> boundary = multipart::boundary(ct);
    multipart::Body& mp = s_.multipart;
    mp.parse(boundary ? body : std::string_view(), boundary ? *boundary : std::string_view());
    bool removed = false, renamed = false, replaced = false, added = false;
    if (nonempty) {
      // lua-multipart order in access.lua: rename, remove, replace (append is not supported).
      for (const auto& e : c.rename.body) {
        std::string_view to = render(e.value);
        const multipart::Part* p = mp.get(e.name);
        if (!p || e.name == to) continue;
        std::string_view value = p->value;
        mp.set_simple(to, value);
        mp.remove(e.name);
        renamed = true;
      }
      for (const auto& e : c.remove.body) {
        mp.remove(e.name);
        removed = true;
      }
      for (const auto& e : c.replace.body) {
        std::string_view v = render(e.value);
        if (!mp.get(e.name)) continue;
        mp.remove(e.name);
        mp.set_simple(e.name, v);
        replaced = true;
      }
    }
    for (const auto& e : c.add.body) {
      std::string_view v = render(e.value);
      if (mp.get(e.name)) continue;
      mp.set_simple(e.name, v);
      added = true;
    }
    if (!(removed || renamed || replaced || added)) return false;
    std::string_view b;
    if (boundary) {
      b = *boundary;
    } else if (!mp.parts().empty()) {
      // lua-multipart would use a random boundary the Content-Type does not announce; Silverback
      // announces it so the upstream can read the parts.
      b = new_boundary();
      std::string& nct = s_.pool.acquire();
      nct.assign(ct).append("; boundary=").append(b);
      api_->hdr_set(raw_, SB_HDR_UPSTREAM_REQUEST, sb::str(kContentType), sb::str(nct));
    }
    mp.serialize(s_.out, b);
    return true;
  }

  std::string_view new_boundary() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string& b = s_.pool.acquire();
    b.assign("silverback-");
    uint64_t r = rng();
    for (int k = 0; k < 16; ++k) b.push_back(kHex[(r >> (k * 4)) & 0xf]);
    return b;
  }

  // ---- Querystring ----

  void transform_querystring() {
    const ArgList& base = query_env();
    if (env_frozen_) s_.query.copy_from(base);
    ArgList& q = s_.query;
    const auto& c = cfg_;
    for (const auto& e : c.remove.querystring) q.erase_all(e.name);
    for (const auto& e : c.rename.querystring) q.rename(e.name, render(e.value));
    for (const auto& e : c.replace.querystring) {
      std::string_view v = render(e.value);
      if (q.any(e.name)) q.replace_all(e.name, v);
    }
    for (const auto& e : c.add.querystring) {
      std::string_view v = render(e.value);
      if (!q.any(e.name)) q.push(e.name, v);
    }
    for (const auto& e : c.append.querystring) q.append(e.name, render(e.value));
    query_dirty_ = true;
  }

  sb::Ctx& ctx_;
  const sb_host_api* api_;
  sb_ctx* raw_;
  const RequestTransformer::Config& cfg_;
  Scratch& s_;
  bool headers_loaded_ = false;
  bool headers_frozen_ = false;
  bool query_loaded_ = false;
  bool env_loaded_ = false;
  bool env_frozen_ = false;
  bool query_dirty_ = false;
};

}  // namespace

RequestTransformer::Config RequestTransformer::compile(const sb::Value& conf) {
  Config c;
  sb::Value method = conf["http_method"];
  if (method.is_string()) {
    std::string_view m = method.str();
    bool ok = !m.empty() &&
              std::all_of(m.begin(), m.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; });
    if (!ok) throw sb::ConfigError("config.http_method: invalid value: " + std::string(m));
    c.http_method = std::string(m);
    c.method_moves_body = m == "GET" || m == "HEAD" || m == "TRACE";
  }
  c.remove = compile_lists(conf, Section::kRemove, "remove");
  c.rename = compile_lists(conf, Section::kRename, "rename");
  c.replace = compile_lists(conf, Section::kReplace, "replace");
  c.add = compile_lists(conf, Section::kAdd, "add");
  c.append = compile_lists(conf, Section::kAppend, "append");
  sb::Value uri = conf["replace"]["uri"];
  if (uri.is_string()) {
    c.has_uri = true;
    c.uri = compile_template(uri.str(), "config.replace.uri: ");
  }
  for (const Lists* l : {&c.remove, &c.rename, &c.replace, &c.add, &c.append}) {
    c.header_ops = c.header_ops || !l->headers.empty();
    c.body_ops = c.body_ops || !l->body.empty();
    c.qs_ops = c.qs_ops || !l->querystring.empty();
  }
  for (const Lists* l : {&c.rename, &c.replace, &c.add, &c.append}) {
    collect_header_keys(l->body, c.late_header_keys);
    collect_header_keys(l->querystring, c.late_header_keys);
  }
  std::sort(c.late_header_keys.begin(), c.late_header_keys.end());
  c.late_header_keys.erase(std::unique(c.late_header_keys.begin(), c.late_header_keys.end()),
                           c.late_header_keys.end());
  return c;
}

uint32_t RequestTransformer::flags(const Config& cfg) {
  // The body is read only when a body transform (or a GET/HEAD/TRACE switch that moves an
  // urlencoded body into the query) may need it; other configs keep streaming.
  return (cfg.body_ops || cfg.method_moves_body) ? SB_CFG_READS_REQUEST_BODY : 0u;
}

sb::Result RequestTransformer::access(sb::Ctx& ctx, const Config& cfg) {
  return Run(ctx, cfg).execute();
}

}  // namespace sbp
