#include "plugins/registry.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"

namespace sb::plugins {

namespace {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// A struct from a newer plugin is accepted only if the bytes this host does not know are zero:
// a non-zero field there would mean something this host cannot honour.
bool unknown_tail_is_zero(const void* p, size_t known, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(p);
  for (size_t i = known; i < size; ++i)
    if (bytes[i] != 0) return false;
  return true;
}

}  // namespace

std::vector<std::string> plugin_dirs(const std::string& configured) {
  std::vector<std::string> dirs;
  std::string_view rest = configured;
  while (!rest.empty()) {
    size_t colon = rest.find(':');
    if (colon != 0) dirs.emplace_back(rest.substr(0, colon));
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    dirs.push_back(dir + "/plugins");
    dirs.push_back(dir + "/../lib/silverback/plugins");
  }
  return dirs;
}

std::unique_ptr<LoadedPlugin> Registry::load_file(const std::string& path, const sb_host_info* host,
                                                  std::string* error) {
  // RTLD_NOW: a missing symbol fails here, not mid-request. RTLD_LOCAL: plugin symbols stay
  // private. RTLD_NODELETE: the code is never unmapped.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    *error = fmt::format("cannot load {}: {}", path, ::dlerror());
    return nullptr;
  }
  auto entry = reinterpret_cast<sb_plugin_entry_fn>(::dlsym(handle, SB_ENTRY_SYMBOL));
  if (entry == nullptr) {
    bool newer = ::dlsym(handle, "sb_plugin_entry_v2") != nullptr;
    *error =
        newer ? fmt::format("{} is built for Silverback plugin ABI 2; this host speaks ABI 1", path)
              : fmt::format("{} is not a Silverback plugin (no symbol {})", path, SB_ENTRY_SYMBOL);
    ::dlclose(handle);
    return nullptr;
  }
  const sb_plugin_def* def = entry(host);
  if (def == nullptr) {
    *error = fmt::format("{} refused this host (ABI {}.{})", path, SB_ABI_MAJOR, SB_ABI_MINOR);
    ::dlclose(handle);
    return nullptr;
  }
  sb_plugin_def d{};
  size_t size = def->struct_size;
  if (size < offsetof(sb_plugin_def, hooks) + sizeof(d.hooks) ||
      (size > sizeof(d) && !unknown_tail_is_zero(def, sizeof(d), size))) {
    *error = fmt::format("{}: plugin descriptor has an unknown layout (size {})", path, size);
    ::dlclose(handle);
    return nullptr;
  }
  std::memcpy(&d, def, std::min(size, sizeof(d)));
  auto fail = [&](std::string message) {
    *error = std::move(message);
    ::dlclose(handle);
    return nullptr;
  };
  if (d.abi_major != SB_ABI_MAJOR) {
    return fail(fmt::format("{}: built for plugin ABI {}.{}, this host speaks ABI {}.{}", path,
                            d.abi_major, d.abi_minor, SB_ABI_MAJOR, SB_ABI_MINOR));
  }
  if (d.min_host_minor > SB_ABI_MINOR) {
    return fail(fmt::format("{}: needs Silverback plugin ABI >= 1.{}, this host is {}.{}", path,
                            d.min_host_minor, SB_ABI_MAJOR, SB_ABI_MINOR));
  }
  if (d.name == nullptr || !valid_name(d.name)) {
    return fail(fmt::format("{}: invalid plugin name", path));
  }
  if (d.hooks == nullptr || d.hooks->struct_size < offsetof(sb_plugin_hooks, on_init)) {
    return fail(fmt::format("{}: plugin '{}' has no hook table", path, d.name));
  }
  auto p = std::make_unique<LoadedPlugin>();
  p->name = d.name;
  p->version = d.version != nullptr ? d.version : "";
  p->path = path;
  p->priority = d.priority;
  p->abi_minor = d.abi_minor;
  // Hooks from a newer plugin that this host does not know are optional: ignored.
  std::memcpy(&p->hooks, d.hooks, std::min<size_t>(d.hooks->struct_size, sizeof(p->hooks)));
  p->hooks.struct_size = sizeof(p->hooks);
  std::string schema_error;
  auto schema = sb::config::parse_plugin_schema(
      d.config_schema != nullptr ? d.config_schema : R"({"fields":[]})", &schema_error);
  if (!schema) {
    return fail(fmt::format("{}: plugin '{}' declares an invalid config schema: {}", path, d.name,
                            schema_error));
  }
  p->schema = std::move(*schema);
  p->schema.name = p->name;
  if (d.entities_schema != nullptr) {
    auto entities = sb::config::parse_entity_schemas(d.entities_schema, &schema_error);
    if (!entities) {
      return fail(fmt::format("{}: plugin '{}' declares an invalid entity schema: {}", path, d.name,
                              schema_error));
    }
    p->entities = std::move(*entities);
  }
  if (p->hooks.on_init != nullptr) {
    char message[512] = {};
    sb_status st = p->hooks.on_init(host, &p->state, sb_errbuf{message, sizeof(message)});
    if (st != SB_OK) {
      message[sizeof(message) - 1] = '\0';
      return fail(fmt::format("{}: plugin '{}' failed to initialise: {}", path, d.name,
                              message[0] != '\0' ? message : "no reason given"));
    }
  }
  return p;
}

std::unique_ptr<Registry> Registry::load(const std::vector<std::string>& names,
                                         const std::vector<std::string>& dirs,
                                         const sb_host_info* host, std::string* error) {
  std::vector<std::string> wanted;
  auto add = [&](std::string_view n) {
    if (std::find(wanted.begin(), wanted.end(), n) == wanted.end()) wanted.emplace_back(n);
  };
  for (const auto& n : names) {
    if (n == "off") {
      wanted.clear();
      continue;
    }
    if (n == "bundled") {
      for (auto b : kBundled) add(b);
      continue;
    }
    add(n);
  }
  auto registry = std::make_unique<Registry>();
  for (const auto& name : wanted) {
    std::string path;
    if (name.find('/') != std::string::npos) {
      path = name;
    } else {
      for (const auto& dir : dirs) {
        std::string candidate = fmt::format("{}/{}.so", dir, name);
        if (file_exists(candidate)) {
          path = candidate;
          break;
        }
      }
      if (path.empty()) {
        *error = fmt::format("plugin '{}' is enabled but {}.so was not found in: {}", name, name,
                             fmt::join(dirs, ", "));
        return nullptr;
      }
    }
    auto p = load_file(path, host, error);
    if (!p) return nullptr;
    if (name.find('/') == std::string::npos && p->name != name) {
      *error = fmt::format("{} declares plugin '{}', expected '{}'", path, p->name, name);
      return nullptr;
    }
    if (registry->find(p->name) != nullptr) {
      *error = fmt::format("plugin '{}' is loaded twice ({})", p->name, path);
      return nullptr;
    }
    for (const auto& e : p->entities) {
      if (registry->entity(e.name) != nullptr) {
        *error = fmt::format("plugin '{}' declares entity '{}', already declared by another plugin",
                             p->name, e.name);
        return nullptr;
      }
    }
    p->index = registry->plugins_.size();
    sb::log::info("plugin '{}' {} loaded from {} (ABI 1.{}, priority {})", p->name, p->version,
                  p->path, p->abi_minor, p->priority);
    registry->plugins_.push_back(std::move(p));
  }
  return registry;
}

Registry::~Registry() {
  for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
    if ((*it)->hooks.on_shutdown != nullptr) (*it)->hooks.on_shutdown((*it)->state);
  }
}

const LoadedPlugin* Registry::find(std::string_view name) const {
  for (const auto& p : plugins_)
    if (p->name == name) return p.get();
  return nullptr;
}

const sb::config::EntitySchema* Registry::entity(std::string_view key) const {
  for (const auto& p : plugins_)
    for (const auto& e : p->entities)
      if (e.name == key) return &e;
  return nullptr;
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& p : plugins_) out.push_back(p->name);
  return out;
}

}  // namespace sb::plugins
