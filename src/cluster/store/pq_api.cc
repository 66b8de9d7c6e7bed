#include "cluster/store/pq_api.h"

#include <dlfcn.h>

#include <string>

namespace muster::cluster {

namespace {

struct Loaded {
  PqApi api;
  Status status;
};

Loaded Load() {
  Loaded out;
  void* lib = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);  // kept open for the process's life
  if (!lib) {
    const char* why = dlerror();
    out.status = Status::FailedPrecondition(
        std::string("a postgres:// state store needs libpq (Debian package libpq5): ") +
        (why ? why : "libpq.so.5 cannot be loaded"));
    return out;
  }
#define MUSTER_PQ_LOOKUP(name)                                                                  \
  out.api.name = reinterpret_cast<decltype(&::name)>(dlsym(lib, #name));                        \
  if (!out.api.name) {                                                                          \
    out.status = Status::FailedPrecondition("the libpq loaded has no " #name                    \
                                            ": it is older than muster needs (libpq5 >= 12)"); \
    return out;                                                                                 \
  }
  MUSTER_PQ_FUNCTIONS(MUSTER_PQ_LOOKUP)
#undef MUSTER_PQ_LOOKUP
  return out;
}

const Loaded& Once() {
  static const Loaded loaded = Load();
  return loaded;
}

}  // namespace

Status LoadPq() {
  return Once().status;
}

const PqApi& Pq() {
  return Once().api;
}

}  // namespace muster::cluster
