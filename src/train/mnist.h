// MNIST-format (IDX) dataset reader, used for Fashion-MNIST and MNIST alike.
//
// Format (big-endian): an image file starts with magic 0x00000803, count, rows, cols, then
// count*rows*cols unsigned bytes; a label file with magic 0x00000801, count, then count bytes.
// Files may be gzip-compressed or raw: zlib's gzread passes non-gzip input through unchanged.
// For a split ("train" or "t10k") the reader looks in the directory for, in this order,
// <split>-images-idx3-ubyte.gz, <split>-images-idx3-ubyte, <split>-images.idx3-ubyte (the
// original MNIST spelling), and likewise for labels.
//
// Every defect a user can cause (missing file, bad magic, truncated data, counts that disagree,
// a label outside 0..9) becomes a one-line InvalidArgument/NotFound Status naming the file.
// No libtorch here: the trainer turns an MnistSet into tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace muster::train {

// One split held in memory: pixels row-major, image i at [i*rows*cols, (i+1)*rows*cols).
struct MnistSet {
  int64_t count = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;  // each in [0, 10)
};

inline constexpr int kMnistClasses = 10;

// Reads `split` ("train" or "t10k") from `dir`. NotFound if a file is missing, InvalidArgument
// if a file is corrupt.
Result<MnistSet> LoadMnistSplit(const std::string& dir, const std::string& split);

// Reads an IDX image file (gzip or raw). InvalidArgument on a bad magic or truncated data.
Result<MnistSet> ReadIdxImages(const std::string& path);
// Reads an IDX label file (gzip or raw) into `labels`. Same errors as ReadIdxImages.
Result<std::vector<uint8_t>> ReadIdxLabels(const std::string& path);

// Keeps the first n samples (no-op when n <= 0 or n >= count).
void TruncateSet(MnistSet& set, int64_t n);

// Mean and standard deviation of the pixel values scaled to [0, 1].
struct PixelStats {
  double mean = 0;
  double stddev = 1;
};
PixelStats ComputePixelStats(const MnistSet& set);

}  // namespace muster::train
