// Where a config load's time goes: yaml-cpp's YAML::Load alone, the whole loader
// (sb::config::load_string, which includes YAML::Load), and compiling the Snapshot (router,
// per-service targets), and freeing a Snapshot; best CPU time of N runs. Usage: config_load_bench
// FILE [repeats]
#include <yaml-cpp/yaml.h>

#include <fmt/format.h>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

#include "config/loader.h"
#include "proxy/snapshot.h"

namespace {

// CPU time, not wall time: the figures stay put on a machine other jobs are using.
double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
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
    double t0 = cpu_ms();
    YAML::Node root = YAML::Load(text);
    best_yaml = std::min(best_yaml, cpu_ms() - t0);

    t0 = cpu_ms();
    auto result = sb::config::load_string(text, argv[1]);
    best_loader = std::min(best_loader, cpu_ms() - t0);
    if (!result.ok()) {
      fmt::print(stderr, "config invalid: {}\n", result.errors.front().to_string());
      return 1;
    }
    t0 = cpu_ms();
    std::vector<std::string> errors;
    auto snap = sb::proxy::build_snapshot(std::move(*result.config),
                                          sb::router::Flavor::traditional, 1, &errors);
    best_snapshot = std::min(best_snapshot, cpu_ms() - t0);
    t0 = cpu_ms();
    snap.reset();
    best_free = std::min(best_free, cpu_ms() - t0);
  }
  // One line of JSON for bench/reload_bench.py.
  fmt::print(R"({{"bytes":{},"yaml_load_ms":{:.1f},"loader_ms":{:.1f},"snapshot_ms":{:.1f},)"
             R"("free_ms":{:.1f}}})"
             "\n",
             text.size(), best_yaml, best_loader, best_snapshot, best_free);
  return 0;
}
