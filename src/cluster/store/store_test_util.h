// Helpers shared by the store tests (not part of the library's API).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "cluster/store/records.h"

namespace muster::cluster {

// An empty directory of the system's temporary directory, for this process.
inline std::string StoreTestDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("muster_store_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// A pending job of `tasks` pending tasks.
inline JobRecord MakeStoreTestJob(JobId id, int tasks) {
  JobSpec s;
  s.name = "job" + std::to_string(id);
  s.command = {"echo", "hi"};
  s.tasks = tasks;
  s.resources.gpus = 1;
  JobRecord j;
  j.id = id;
  j.spec = std::make_shared<const JobSpec>(s);
  j.submit_ms = 1000 + id;
  for (int i = 0; i < tasks; ++i) {
    TaskRecord t;
    t.index = i;
    j.tasks.push_back(t);
  }
  return j;
}

}  // namespace muster::cluster
