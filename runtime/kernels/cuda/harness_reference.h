// The CUDA harness's host side: seeded inputs at the shapes, the CPU library's scalar path as the reference
// (the library's own functions: PackMatMulNBits + QuantizeRow + GemmScalar, PackInt8Weights, HadamardTransformRow,
// Log2AttnRows, PackBcqWeights + BuildBcqTables + BcqScalar), and the comparison. Plain C++ (no CUDA, no ONNX
// Runtime): host_selftest.cc checks it on machines without a GPU.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace onnxquant {
namespace harness {

struct W4Case {
  int64_t m, k, n, block, blocks;
  std::vector<float> a, scales, bias;
  std::vector<uint8_t> b, zero_points;  // MatMulNBits' layouts
};
struct W8Case {
  int64_t m, k, n;
  std::vector<float> a, scales, bias;
  std::vector<int8_t> w;  // [K][N]
};
struct HadamardCase {
  int64_t rows, d, k;
  std::vector<float> x;
  std::vector<int8_t> base;  // [K][K] of ±1 (empty when K = 1); the op only needs ±1, so it is random here
};
struct Log2Case {
  int64_t heads, m, t, n;
  int levels;
  float a_scale, v_scale;
  int32_t v_zero;
  std::vector<float> a, thresholds;  // a: Softmax rows
  std::vector<uint8_t> v;            // uint8 codes
};
struct BcqCase {
  int64_t m, k, n, planes, block, blocks, groups;
  std::vector<float> a, alphas, offsets, bias;
  std::vector<uint8_t> bits;  // [N][P][⌈K/8⌉]
};

W4Case MakeW4Case(int64_t m, int64_t k, int64_t n, int64_t block, uint32_t seed);
W8Case MakeW8Case(int64_t m, int64_t k, int64_t n, uint32_t seed);
HadamardCase MakeHadamardCase(int64_t rows, int64_t d, int64_t k, uint32_t seed);
Log2Case MakeLog2Case(int64_t heads, int64_t m, int64_t t, int64_t n, int bits, uint32_t seed);
BcqCase MakeBcqCase(int64_t m, int64_t k, int64_t n, int64_t planes, int64_t block, bool offsets, uint32_t seed);

// The CPU scalar path's outputs (split over `threads` host threads where the path allows: every output element is
// computed by the same code either way).
std::vector<float> ReferenceW4A8(const W4Case& c, int threads);
std::vector<float> ReferenceW8A8(const W8Case& c, int threads);
std::vector<float> ReferenceHadamard(const HadamardCase& c, int threads);
std::vector<float> ReferenceLog2(const Log2Case& c, int threads);
std::vector<float> ReferenceBcq(const BcqCase& c, int threads);

struct Comparison {
  size_t count = 0, mismatches = 0;  // mismatches: elements outside the tolerance
  size_t differing_bits = 0;         // elements whose bits differ at all
  double max_abs = 0, max_ref = 0;
  size_t first_bad = 0;
  bool ok() const { return mismatches == 0; }
};
// An element matches when |got − ref| <= tolerance · max|ref| (tolerance 0: the same bits; NaN matches only NaN).
Comparison Compare(const std::vector<float>& reference, const std::vector<float>& got, double tolerance);
std::string Describe(const Comparison& c);

}  // namespace harness
}  // namespace onnxquant
