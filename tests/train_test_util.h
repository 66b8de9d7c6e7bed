// Helpers shared by the trainer's integration tests: a free loopback port and a synthetic
// MNIST-shaped dataset (no files needed).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <random>

#include "train/mnist.h"

namespace muster::train::testing {

// A TCP port that was free a moment ago (bind to port 0, read it back, close).
inline uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// n 28x28 images whose label is the brightest of ten horizontal bands, over uniform noise.
inline MnistSet SyntheticSet(int64_t n, uint64_t seed) {
  MnistSet s;
  s.count = n;
  s.rows = s.cols = 28;
  s.pixels.resize(n * 784);
  s.labels.resize(n);
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(rng() % 10);
    s.labels[i] = static_cast<uint8_t>(label);
    for (int p = 0; p < 784; ++p) {
      const int band = (p / 28) * 10 / 28;
      const int v = static_cast<int>(rng() % 256);
      s.pixels[i * 784 + p] = static_cast<uint8_t>(band == label ? 128 + v / 2 : v / 2);
    }
  }
  return s;
}

}  // namespace muster::train::testing
