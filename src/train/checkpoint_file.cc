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
#include <tuple>
#include <vector>

namespace muster::train {
namespace fs = std::filesystem;
namespace {

std::string FileName(int64_t attempt, int64_t step) {
  char buf[48];
  if (attempt <= 0)
    std::snprintf(buf, sizeof buf, "ckpt-%012lld.pt", static_cast<long long>(step));
  else
    std::snprintf(buf, sizeof buf, "ckpt-a%06lld-%012lld.pt", static_cast<long long>(attempt),
                  static_cast<long long>(step));
  return buf;
}

// Digits of name[from, to) as a number, or -1.
int64_t Digits(const std::string& name, size_t from, size_t to) {
  int64_t v = 0;
  for (size_t i = from; i < to; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

struct Named {
  int64_t attempt = -1;  // -1: not a final checkpoint name
  int64_t step = -1;
};

// Attempt and step encoded in a final checkpoint name.
Named Parse(const std::string& name) {
  if (name.rfind("ckpt-", 0) != 0 || name.size() < 8 || name.substr(name.size() - 3) != ".pt")
    return {};
  if (name.size() == 20) return {0, Digits(name, 5, 17)};  // ckpt-<12>.pt
  // ckpt-a<6 or more>-<12>.pt: attempts of a restored cluster's epoch (> 10^6) are longer.
  const size_t dash = name.find('-', 6);
  if (name[5] == 'a' && dash != std::string::npos && dash >= 12 && dash <= 24 &&
      name.size() == dash + 1 + 12 + 3) {
    const int64_t a = Digits(name, 6, dash), s = Digits(name, dash + 1, dash + 13);
    if (a >= 0 && s >= 0) return {a, s};
  }
  return {};
}

Status Errno(const std::string& what, const std::string& path) {
  return Status::Internal(what + " " + path + ": " + std::strerror(errno));
}

struct Listed {
  int64_t attempt, step;
  fs::path path;
};

// The final checkpoints in dir, newest (attempt, step) first.
std::vector<Listed> List(const std::string& dir) {
  std::vector<Listed> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const Named n = Parse(e.path().filename().string());
    if (n.attempt >= 0 && n.step >= 0) out.push_back({n.attempt, n.step, e.path()});
  }
  std::sort(out.begin(), out.end(), [](const Listed& a, const Listed& b) {
    return std::tie(a.attempt, a.step) > std::tie(b.attempt, b.step);
  });
  return out;
}

}  // namespace

Result<std::string> WriteCheckpointFile(const std::string& dir, int64_t step,
                                        const std::string& bytes, int keep, int64_t attempt) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return Status::Internal("cannot create checkpoint directory " + dir + ": " + ec.message());
  const fs::path final_path = fs::path(dir) / FileName(attempt, step);
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
  for (size_t i = std::max(keep, 1); i < all.size(); ++i) fs::remove(all[i].path, ec);
  return final_path.string();
}

Result<std::optional<CheckpointBlob>> ReadLatestCheckpoint(const std::string& dir) {
  if (!fs::is_directory(dir)) return std::optional<CheckpointBlob>();
  auto all = List(dir);
  if (all.empty()) return std::optional<CheckpointBlob>();
  CheckpointBlob blob;
  blob.attempt = all.front().attempt;
  blob.step = all.front().step;
  blob.path = all.front().path.string();
  std::ifstream in(blob.path, std::ios::binary);
  if (!in) return Status::Internal("cannot open checkpoint " + blob.path);
  std::ostringstream ss;
  ss << in.rdbuf();
  blob.bytes = ss.str();
  return std::optional<CheckpointBlob>(std::move(blob));
}

}  // namespace muster::train
