#include "admin/admin.h"

#include <openssl/rand.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fstream>

#include "common/json.h"
#include "http/message.h"

namespace sb::admin {
namespace {

constexpr std::string_view kVersion = "0.1.0";

std::string random_uuid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof(b));
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
      "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
      b[15]);
}

// Resident set size of this process, from /proc (bytes).
uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

Admin::Admin(sb::proxy::Server& server) : server_(server), node_id_(random_uuid()) {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  hostname_ = host;
}

void Admin::handle(const sb::http::MessageHead& request, const std::string&,
                   sb::proxy::AdminResponse& out) {
  std::string_view path = path_of(request.target());
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  bool get = request.method == HTTP_GET || request.method == HTTP_HEAD;
  if (path == "/status" || path == "/") {
    if (!get) {
      out.status = 405;
      out.body = R"({"message":"Method not allowed"})";
      return;
    }
    out.status = 200;
    out.body = path == "/status" ? status_json() : root_json();
    return;
  }
  out.status = 404;
  out.body = R"({"message":"Not found"})";
}

std::string Admin::status_json() const {
  auto snap = server_.snapshot();
  auto t = server_.totals();
  std::string hash = snap ? snap->config.hash : std::string(32, '0');
  // Kong's shape: server counters as nginx's stub_status, memory, configuration_hash.
  return fmt::format(
      R"({{"configuration_hash":"{}","database":{{"reachable":true}},)"
      R"("memory":{{"workers_lua_vms":[],"lua_shared_dicts":{{}},"process_rss_bytes":{}}},)"
      R"("server":{{"connections_accepted":{},"connections_active":{},"connections_handled":{},)"
      R"("connections_reading":{},"connections_waiting":{},"connections_writing":{},)"
      R"("total_requests":{}}}}})",
      hash, rss_bytes(), t.accepted, t.active, t.handled, t.reading,
      std::max<int64_t>(0, t.active - t.reading - t.writing), t.writing, t.requests);
}

std::string Admin::root_json() const {
  const auto& s = server_.settings();
  return fmt::format(
      R"({{"tagline":"Welcome to silverback","version":"{}","edition":"community",)"
      R"("hostname":"{}","node_id":"{}","lua_version":"none",)"
      R"("plugins":{{"available_on_server":{{}},"enabled_in_cluster":[]}},)"
      R"("configuration":{{"database":"off","declarative_config":"{}","nginx_worker_processes":{},)"
      R"("router_flavor":"{}"}},"pids":{{"master":{}}}}})",
      kVersion, sb::json_escape(hostname_), node_id_, sb::json_escape(s.declarative_config),
      s.workers,
      s.router_flavor == sb::router::Flavor::traditional ? "traditional" : "traditional_compatible",
      getpid());
}

}  // namespace sb::admin
