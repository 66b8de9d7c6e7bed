#include "cluster/coordinator/log_store.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace muster::cluster {

std::string LogStore::PathOf(JobId job, int task, bool is_stderr) const {
  return dir_ + "/" + std::to_string(job) + "/" + std::to_string(task) +
         (is_stderr ? ".err" : ".out");
}

Status LogStore::Append(JobId job, int task, bool is_stderr, const std::string& data) const {
  std::error_code ec;
  std::filesystem::create_directories(dir_ + "/" + std::to_string(job), ec);
  std::string path = PathOf(job, task, is_stderr);
  FILE* f = std::fopen(path.c_str(), "ab");
  if (!f) return Status::Internal("cannot append to " + path);
  size_t n = std::fwrite(data.data(), 1, data.size(), f);
  std::fclose(f);
  if (n != data.size()) return Status::Internal("short write to " + path);
  return Status::Ok();
}

std::string LogStore::Read(JobId job, int task, bool is_stderr, int64_t offset,
                           int64_t max_bytes) const {
  std::ifstream in(PathOf(job, task, is_stderr), std::ios::binary);
  if (!in) return {};
  in.seekg(offset);
  if (!in) return {};
  std::string buf(static_cast<size_t>(max_bytes), '\0');
  in.read(buf.data(), max_bytes);
  buf.resize(static_cast<size_t>(in.gcount()));
  return buf;
}

}  // namespace muster::cluster
