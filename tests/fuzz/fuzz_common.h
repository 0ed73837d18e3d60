// Helpers shared by the fuzz targets (header-only, fuzz builds only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace sb::fuzz {

// Consumes bytes from the front of the fuzz input.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(reinterpret_cast<const char*>(data)), n_(size) {}
  uint8_t byte() {
    if (n_ == 0) return 0;
    --n_;
    return static_cast<uint8_t>(*p_++);
  }
  // Up to the next '\n' (not included); the rest when there is none.
  std::string_view line() {
    std::string_view rest(p_, n_);
    size_t nl = rest.find('\n');
    std::string_view out = rest.substr(0, nl);
    size_t used = nl == std::string_view::npos ? n_ : nl + 1;
    p_ += used;
    n_ -= used;
    return out;
  }
  std::string_view rest() const { return {p_, n_}; }
  size_t size() const { return n_; }

 private:
  const char* p_;
  size_t n_;
};

// Cut points splitting `len` bytes into 1..3 pieces, chosen by `a` and `b`.
inline std::vector<size_t> split_points(size_t len, uint8_t a, uint8_t b) {
  std::vector<size_t> cuts;
  size_t pieces = 1 + a % 3;
  if (pieces >= 2 && len > 0) cuts.push_back((static_cast<size_t>(b) * 131) % (len + 1));
  if (pieces == 3 && len > 0) cuts.push_back((static_cast<size_t>(a) * 257 + b) % (len + 1));
  cuts.push_back(len);
  std::vector<size_t> sorted;
  size_t prev = 0;
  for (size_t c : cuts)
    if (c >= prev) {
      sorted.push_back(c);
      prev = c;
    }
  if (sorted.empty() || sorted.back() != len) sorted.push_back(len);
  return sorted;
}

}  // namespace sb::fuzz
