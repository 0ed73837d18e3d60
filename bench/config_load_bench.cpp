// Where a config load's time goes: yaml-cpp's YAML::Load alone, the whole loader
// (sb::config::load_string, which includes YAML::Load), and compiling the Snapshot (router,
// per-service targets), and freeing a Snapshot. Usage: config_load_bench FILE [repeats]
#include <yaml-cpp/yaml.h>

#include <fmt/format.h>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "config/loader.h"
#include "proxy/snapshot.h"

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: config_load_bench FILE [repeats]\n");
    return 1;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  double best_yaml = 1e18, best_loader = 1e18, best_snapshot = 1e18, best_free = 1e18;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    YAML::Node root = YAML::Load(text);
    best_yaml = std::min(best_yaml, ms_since(t0));

    t0 = std::chrono::steady_clock::now();
    auto result = sb::config::load_string(text, argv[1]);
    best_loader = std::min(best_loader, ms_since(t0));
    if (!result.ok()) {
      fmt::print(stderr, "config invalid: {}\n", result.errors.front().to_string());
      return 1;
    }
    t0 = std::chrono::steady_clock::now();
    std::vector<std::string> errors;
    auto snap = sb::proxy::build_snapshot(std::move(*result.config),
                                          sb::router::Flavor::traditional, 1, &errors);
    best_snapshot = std::min(best_snapshot, ms_since(t0));
    t0 = std::chrono::steady_clock::now();
    snap.reset();
    best_free = std::min(best_free, ms_since(t0));
  }
  // One line of JSON for bench/reload_bench.py.
  fmt::print(R"({{"bytes":{},"yaml_load_ms":{:.1f},"loader_ms":{:.1f},"snapshot_ms":{:.1f},)"
             R"("free_ms":{:.1f}}})"
             "\n",
             text.size(), best_yaml, best_loader, best_snapshot, best_free);
  return 0;
}
