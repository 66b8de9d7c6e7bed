// Atomic checkpoint files (see checkpoint_file.h).
#include "train/checkpoint_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace muster::train {
namespace fs = std::filesystem;
namespace {

std::string FileName(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "ckpt-%012lld.pt", static_cast<long long>(step));
  return buf;
}

// Step encoded in a final checkpoint name, or -1.
int64_t StepOf(const std::string& name) {
  if (name.size() != 20 || name.rfind("ckpt-", 0) != 0 || name.substr(17) != ".pt") return -1;
  int64_t step = 0;
  for (size_t i = 5; i < 17; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

Status Errno(const std::string& what, const std::string& path) {
  return Status::Internal(what + " " + path + ": " + std::strerror(errno));
}

std::vector<std::pair<int64_t, fs::path>> List(const std::string& dir) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const int64_t s = StepOf(e.path().filename().string());
    if (s >= 0) out.emplace_back(s, e.path());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

}  // namespace

Result<std::string> WriteCheckpointFile(const std::string& dir, int64_t step,
                                        const std::string& bytes, int keep) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return Status::Internal("cannot create checkpoint directory " + dir + ": " + ec.message());
  const fs::path final_path = fs::path(dir) / FileName(step);
  const std::string tmp = final_path.string() + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Errno("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status s = Errno("cannot fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    Status s = Errno("cannot rename", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  auto all = List(dir);
  for (size_t i = std::max(keep, 1); i < all.size(); ++i) fs::remove(all[i].second, ec);
  return final_path.string();
}

Result<std::optional<CheckpointBlob>> ReadLatestCheckpoint(const std::string& dir) {
  if (!fs::is_directory(dir)) return std::optional<CheckpointBlob>();
  auto all = List(dir);
  if (all.empty()) return std::optional<CheckpointBlob>();
  CheckpointBlob blob;
  blob.step = all.front().first;
  blob.path = all.front().second.string();
  std::ifstream in(blob.path, std::ios::binary);
  if (!in) return Status::Internal("cannot open checkpoint " + blob.path);
  std::ostringstream ss;
  ss << in.rdbuf();
  blob.bytes = ss.str();
  return std::optional<CheckpointBlob>(std::move(blob));
}

}  // namespace muster::train
