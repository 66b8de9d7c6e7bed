// IDX reader over zlib's gz* API (see mnist.h for the format and the error contract).
#include "train/mnist.h"

#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <memory>

namespace muster::train {
namespace {

constexpr uint32_t kImageMagic = 0x00000803;
constexpr uint32_t kLabelMagic = 0x00000801;
constexpr int64_t kMaxElements = int64_t{1} << 34;  // refuse absurd headers before allocating

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

Result<GzFile> Open(const std::string& path) {
  if (!std::filesystem::exists(path))
    return Status::NotFound("dataset file " + path + " does not exist");
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return Status::InvalidArgument("cannot open dataset file " + path);
  gzbuffer(f, 1 << 20);
  return GzFile(f);
}

// Reads exactly n bytes; returns the number read, or -1 with `err` set on a decompression error.
int64_t ReadFully(gzFile f, uint8_t* dst, int64_t n, std::string& err) {
  int64_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - done, 1 << 30));
    const int got = gzread(f, dst + done, chunk);
    if (got < 0) {
      int code = 0;
      err = gzerror(f, &code);
      return -1;
    }
    if (got == 0) break;
    done += got;
  }
  return done;
}

Status ReadBytes(gzFile f, const std::string& path, uint8_t* dst, int64_t n, const char* what) {
  std::string err;
  const int64_t got = ReadFully(f, dst, n, err);
  if (got < 0) return Status::InvalidArgument(path + ": corrupt compressed data (" + err + ")");
  if (got < n) {
    return Status::InvalidArgument(path + ": truncated " + what + " (expected " +
                                   std::to_string(n) + " bytes, got " + std::to_string(got) + ")");
  }
  return Status::Ok();
}

Result<std::vector<uint32_t>> ReadHeader(gzFile f, const std::string& path, int words) {
  std::vector<uint8_t> raw(4 * words);
  if (Status s = ReadBytes(f, path, raw.data(), 4 * words, "header"); !s.ok()) return s;
  std::vector<uint32_t> out(words);
  for (int i = 0; i < words; ++i) {
    out[i] = (uint32_t{raw[4 * i]} << 24) | (uint32_t{raw[4 * i + 1]} << 16) |
             (uint32_t{raw[4 * i + 2]} << 8) | uint32_t{raw[4 * i + 3]};
  }
  return out;
}

std::string Hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

Status CheckAtEnd(gzFile f, const std::string& path) {
  uint8_t extra;
  std::string err;
  if (ReadFully(f, &extra, 1, err) > 0) {
    return Status::InvalidArgument(path + ": trailing bytes after the data the header declares");
  }
  return Status::Ok();
}

std::string FindFile(const std::string& dir, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    auto p = std::filesystem::path(dir) / n;
    if (std::filesystem::exists(p)) return p.string();
  }
  return (std::filesystem::path(dir) / names.front()).string();
}

}  // namespace

Result<MnistSet> ReadIdxImages(const std::string& path) {
  auto f = Open(path);
  if (!f.ok()) return f.status();
  auto h = ReadHeader(f->get(), path, 4);
  if (!h.ok()) return h.status();
  const auto& hv = *h;
  if (hv[0] != kImageMagic) {
    return Status::InvalidArgument(path + ": bad magic " + Hex(hv[0]) +
                                   " (an IDX image file starts with " + Hex(kImageMagic) + ")");
  }
  MnistSet set;
  set.count = hv[1];
  set.rows = hv[2];
  set.cols = hv[3];
  const int64_t n = set.count * set.rows * set.cols;
  if (set.rows == 0 || set.cols == 0 || n > kMaxElements) {
    return Status::InvalidArgument(path + ": implausible image shape " + std::to_string(set.rows) +
                                   "x" + std::to_string(set.cols));
  }
  set.pixels.resize(n);
  if (Status s = ReadBytes(f->get(), path, set.pixels.data(), n, "pixel data"); !s.ok()) return s;
  if (Status s = CheckAtEnd(f->get(), path); !s.ok()) return s;
  return set;
}

Result<std::vector<uint8_t>> ReadIdxLabels(const std::string& path) {
  auto f = Open(path);
  if (!f.ok()) return f.status();
  auto h = ReadHeader(f->get(), path, 2);
  if (!h.ok()) return h.status();
  if ((*h)[0] != kLabelMagic) {
    return Status::InvalidArgument(path + ": bad magic " + Hex((*h)[0]) +
                                   " (an IDX label file starts with " + Hex(kLabelMagic) + ")");
  }
  const int64_t n = (*h)[1];
  if (n > kMaxElements) return Status::InvalidArgument(path + ": implausible label count");
  std::vector<uint8_t> labels(n);
  if (Status s = ReadBytes(f->get(), path, labels.data(), n, "labels"); !s.ok()) return s;
  if (Status s = CheckAtEnd(f->get(), path); !s.ok()) return s;
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] >= kMnistClasses) {
      return Status::InvalidArgument(path + ": label " + std::to_string(labels[i]) + " at index " +
                                     std::to_string(i) + " is outside 0..9");
    }
  }
  return labels;
}

Result<MnistSet> LoadMnistSplit(const std::string& dir, const std::string& split) {
  if (!std::filesystem::is_directory(dir)) {
    return Status::NotFound("dataset directory " + dir + " does not exist");
  }
  const std::string images =
      FindFile(dir, {split + "-images-idx3-ubyte.gz", split + "-images-idx3-ubyte",
                     split + "-images.idx3-ubyte"});
  const std::string labels =
      FindFile(dir, {split + "-labels-idx1-ubyte.gz", split + "-labels-idx1-ubyte",
                     split + "-labels.idx1-ubyte"});
  auto set = ReadIdxImages(images);
  if (!set.ok()) return set.status();
  auto lab = ReadIdxLabels(labels);
  if (!lab.ok()) return lab.status();
  if (static_cast<int64_t>(lab->size()) != set->count) {
    return Status::InvalidArgument(labels + " holds " + std::to_string(lab->size()) +
                                   " labels but " + images + " holds " +
                                   std::to_string(set->count) + " images");
  }
  set->labels = std::move(*lab);
  return set;
}

void TruncateSet(MnistSet& set, int64_t n) {
  if (n <= 0 || n >= set.count) return;
  set.count = n;
  set.pixels.resize(n * set.rows * set.cols);
  set.labels.resize(n);
}

PixelStats ComputePixelStats(const MnistSet& set) {
  if (set.pixels.empty()) return {};
  double sum = 0, sq = 0;
  for (uint8_t p : set.pixels) {
    const double v = p / 255.0;
    sum += v;
    sq += v * v;
  }
  const double n = static_cast<double>(set.pixels.size());
  const double mean = sum / n;
  const double var = std::max(sq / n - mean * mean, 1e-12);
  return {mean, std::sqrt(var)};
}

}  // namespace muster::train
