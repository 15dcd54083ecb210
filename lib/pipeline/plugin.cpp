// Plugins: shared libraries that add stage types to a registry, as the built-in stages do.
#include <dlfcn.h>

#include <exception>
#include <string>

#include <sluice/pipeline/registry.hpp>

namespace sluice::pipeline {

plugin_result load_plugin(const std::string& path, registry& r) {
  // A plugin stays loaded for the life of the program: its types' code must stay mapped.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return {"cannot load plugin " + path + ": " + (why != nullptr ? why : "dlopen failed")};
  }
  using register_fn = void (*)(registry&);
  auto fn = reinterpret_cast<register_fn>(::dlsym(handle, plugin_entry_point));
  if (fn == nullptr) return {"plugin " + path + " has no " + plugin_entry_point + " function"};
  try {
    fn(r);
  } catch (const std::exception& e) {
    return {"plugin " + path + " failed to register: " + e.what()};
  } catch (...) {  // a plugin is foreign code: whatever it throws is its failure, not an abort of ours
    return {"plugin " + path + " failed to register: it threw something that is not a std::exception"};
  }
  return {};
}

}  // namespace sluice::pipeline
