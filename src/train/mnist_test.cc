// Tests of the IDX reader: gzip and raw files, and the one-line errors for broken datasets.
#include "train/mnist.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

namespace muster::train {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> Be32(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

std::vector<uint8_t> ImageFile(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols,
                               size_t payload) {
  std::vector<uint8_t> out;
  for (uint32_t v : {magic, n, rows, cols}) {
    auto b = Be32(v);
    out.insert(out.end(), b.begin(), b.end());
  }
  for (size_t i = 0; i < payload; ++i) out.push_back(static_cast<uint8_t>(i * 7));
  return out;
}

std::vector<uint8_t> LabelFile(uint32_t n, uint8_t max_label = 9) {
  std::vector<uint8_t> out = Be32(0x801);
  auto b = Be32(n);
  out.insert(out.end(), b.begin(), b.end());
  for (uint32_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(i % (max_label + 1)));
  return out;
}

class MnistTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("muster_mnist_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Raw(const std::string& name, const std::vector<uint8_t>& bytes) {
    const auto p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return p;
  }
  std::string Gz(const std::string& name, const std::vector<uint8_t>& bytes) {
    const auto p = (dir_ / name).string();
    gzFile f = gzopen(p.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    return p;
  }
  fs::path dir_;
};

TEST_F(MnistTest, ReadsGzipAndRawAlike) {
  Gz("train-images-idx3-ubyte.gz", ImageFile(0x803, 3, 28, 28, 3 * 784));
  Gz("train-labels-idx1-ubyte.gz", LabelFile(3));
  Raw("t10k-images-idx3-ubyte", ImageFile(0x803, 2, 28, 28, 2 * 784));
  Raw("t10k-labels-idx1-ubyte", LabelFile(2));
  auto train = LoadMnistSplit(dir_.string(), "train");
  ASSERT_TRUE(train.ok()) << train.status().ToString();
  EXPECT_EQ(train->count, 3);
  EXPECT_EQ(train->rows, 28);
  EXPECT_EQ(train->pixels.size(), 3u * 784);
  EXPECT_EQ(train->pixels[1], 7);
  EXPECT_EQ(train->labels, (std::vector<uint8_t>{0, 1, 2}));
  auto test = LoadMnistSplit(dir_.string(), "t10k");
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  EXPECT_EQ(test->count, 2);
  TruncateSet(*train, 1);
  EXPECT_EQ(train->count, 1);
  EXPECT_EQ(train->pixels.size(), 784u);
}

TEST_F(MnistTest, MissingFileIsNotFound) {
  auto r = LoadMnistSplit(dir_.string(), "train");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("train-images-idx3-ubyte.gz"), std::string::npos);
  EXPECT_EQ(LoadMnistSplit((dir_ / "nope").string(), "train").status().code(),
            StatusCode::kNotFound);
}

TEST_F(MnistTest, BadMagicIsReported) {
  auto r = ReadIdxImages(Gz("img.gz", ImageFile(0x801, 1, 28, 28, 784)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("bad magic 0x00000801"), std::string::npos);
  auto l = ReadIdxLabels(Raw("lab", ImageFile(0x803, 1, 28, 28, 784)));
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.status().message().find("bad magic"), std::string::npos);
}

TEST_F(MnistTest, TruncatedDataIsReported) {
  auto r = ReadIdxImages(Raw("img", ImageFile(0x803, 2, 28, 28, 784 + 10)));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated pixel data (expected 1568 bytes, got 794)"),
            std::string::npos)
      << r.status().message();
  auto h = ReadIdxImages(Raw("hdr", {0, 0, 8}));
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("truncated header"), std::string::npos);
}

TEST_F(MnistTest, TruncatedGzipStreamIsReported) {
  const auto p = Gz("img.gz", ImageFile(0x803, 50, 28, 28, 50 * 784));
  const auto size = fs::file_size(p);
  fs::resize_file(p, size / 2);
  auto r = ReadIdxImages(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(p), std::string::npos) << r.status().message();
}

TEST_F(MnistTest, CountMismatchAndBadLabelsAreReported) {
  Raw("train-images-idx3-ubyte", ImageFile(0x803, 3, 28, 28, 3 * 784));
  Raw("train-labels-idx1-ubyte", LabelFile(4));
  auto r = LoadMnistSplit(dir_.string(), "train");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("holds 4 labels but"), std::string::npos);
  auto bad = LabelFile(3);
  bad.back() = 12;
  auto l = ReadIdxLabels(Raw("lab", bad));
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.status().message().find("label 12 at index 2"), std::string::npos);
}

TEST(PixelStats, MeanAndStddevOfScaledPixels) {
  MnistSet s;
  s.pixels = {0, 255, 0, 255};
  auto st = ComputePixelStats(s);
  EXPECT_NEAR(st.mean, 0.5, 1e-12);
  EXPECT_NEAR(st.stddev, 0.5, 1e-9);
}

}  // namespace
}  // namespace muster::train
