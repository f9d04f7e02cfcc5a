// What of the CUDA harness runs without a GPU, checked on the CPU (tests/OnnxQuant.Tests/Kernels/CudaHarnessTests
// builds this with the system C++ compiler and runs it):
//  - the integer tricks of the W4A8/W8A8 kernels (int8_dot.h: dp4a, nibble words against NibblePosition-ordered
//    activations) and the repacking for the GPU (gpu_layouts.cc), by recomputing W4A8 and W8A8 in the kernels'
//    decomposition on the host and requiring the CPU scalar path's bits;
//  - the harness's comparison (it must flag a one-ulp difference at tolerance 0, accept NaN against NaN, …);
//  - the reference drivers against independent float arithmetic (per-token rounding bound, H·H = I).
// Exit status 0 when every check passes, 1 otherwise.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../src/quantize_code.h"
#include "gpu_layouts.h"
#include "harness_reference.h"
#include "int8_dot.h"

using namespace onnxquant;
using namespace onnxquant::harness;

namespace {

int g_failures = 0, g_checks = 0;

void Check(bool ok, const std::string& what) {
  g_checks++;
  if (!ok) {
    g_failures++;
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  }
}

// Per-token quantization as the GPU kernel writes it (codes at NibblePosition when permuted) and Σq per block.
void QuantizeLikeGpu(const float* a, int64_t k, int64_t padded_k, int64_t block, bool permuted, std::vector<int8_t>& q,
                     float& scale, std::vector<int32_t>& sums) {
  float amax = 0.0f;
  for (int64_t i = 0; i < k; i++) amax = std::fabs(a[i]) > amax ? std::fabs(a[i]) : amax;
  float inv;
  ActivationScale(amax, &inv, &scale);
  q.assign(static_cast<size_t>(padded_k), 0);
  sums.assign(static_cast<size_t>(padded_k / block), 0);
  for (int64_t i = 0; i < padded_k; i++) {
    int32_t v = i < k ? QuantizeCode(a[i], inv) : 0;
    q[static_cast<size_t>(permuted ? (i & ~int64_t{7}) + NibblePosition(static_cast<int>(i & 7)) : i)] = static_cast<int8_t>(v);
    sums[static_cast<size_t>(i / block)] += v;
  }
}

int32_t Word(const int8_t* q, int64_t w) {
  uint32_t x;
  std::memcpy(&x, q + 4 * w, 4);
  return static_cast<int32_t>(x);
}

// MatMulW4A8 in the GPU kernels' decomposition: nibble words, dp4a, per-block fmaf chain.
std::vector<float> W4LikeGpu(const W4Case& c) {
  const int64_t padded_k = c.blocks * c.block, words = padded_k / 8;
  std::vector<int32_t> zeros = UnpackZeroPoints(c.zero_points.data(), c.n, c.blocks);
  std::vector<float> y(static_cast<size_t>(c.m * c.n));
  std::vector<int8_t> q;
  std::vector<int32_t> sums;
  for (int64_t row = 0; row < c.m; row++) {
    float scale;
    QuantizeLikeGpu(c.a.data() + row * c.k, c.k, padded_k, c.block, true, q, scale, sums);
    for (int64_t col = 0; col < c.n; col++) {
      float acc = 0.0f;
      for (int64_t b = 0; b < c.blocks; b++) {
        int32_t dot = 0;
        for (int64_t w = b * c.block / 8; w < (b + 1) * c.block / 8; w++) {
          uint32_t codes;
          std::memcpy(&codes, c.b.data() + 4 * (col * words + w), 4);
          dot = NibbleDot8(codes, Word(q.data(), 2 * w), Word(q.data(), 2 * w + 1), dot);
        }
        dot -= zeros[static_cast<size_t>(col * c.blocks + b)] * sums[static_cast<size_t>(b)];
        acc = std::fma(static_cast<float>(dot), c.scales[static_cast<size_t>(col * c.blocks + b)], acc);
      }
      y[static_cast<size_t>(row * c.n + col)] = std::fma(acc, scale, c.bias[static_cast<size_t>(col)]);
    }
  }
  return y;
}

// MatMulW8A8 in the GPU kernels' decomposition: signed column words, dp4a, one block.
std::vector<float> W8LikeGpu(const W8Case& c) {
  const int64_t padded_k = Int8PaddedK(c.k), words = padded_k / 4;
  std::vector<uint32_t> codes = Int8ColumnWords(c.w.data(), c.k, c.n);
  std::vector<float> scales = PerColumnScales(c.scales.data(), c.n, c.n);
  std::vector<float> y(static_cast<size_t>(c.m * c.n));
  std::vector<int8_t> q;
  std::vector<int32_t> sums;
  for (int64_t row = 0; row < c.m; row++) {
    float scale;
    QuantizeLikeGpu(c.a.data() + row * c.k, c.k, padded_k, padded_k, false, q, scale, sums);
    for (int64_t col = 0; col < c.n; col++) {
      int32_t dot = 0;
      for (int64_t w = 0; w < words; w++) dot = Dp4a(static_cast<int32_t>(codes[static_cast<size_t>(col * words + w)]), Word(q.data(), w), dot);
      float acc = std::fma(static_cast<float>(dot), scales[static_cast<size_t>(col)], 0.0f);
      y[static_cast<size_t>(row * c.n + col)] = std::fma(acc, scale, c.bias[static_cast<size_t>(col)]);
    }
  }
  return y;
}

void CheckDp4a() {
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> word;
  for (int t = 0; t < 2000; t++) {
    uint32_t a = word(rng), b = word(rng), codes = word(rng);
    int32_t direct = 7;
    for (int i = 0; i < 4; i++) direct += static_cast<int8_t>(a >> (8 * i)) * static_cast<int8_t>(b >> (8 * i));
    Check(Dp4a(static_cast<int32_t>(a), static_cast<int32_t>(b), 7) == direct, "Dp4a equals the signed byte dot product");
    // 8 activations in natural order, laid out at NibblePosition.
    int8_t natural[8], placed[8];
    for (int i = 0; i < 8; i++) natural[i] = static_cast<int8_t>(word(rng));
    for (int i = 0; i < 8; i++) placed[NibblePosition(i)] = natural[i];
    int32_t expected = 0;
    for (int i = 0; i < 8; i++) expected += static_cast<int32_t>((codes >> (4 * i)) & 15) * natural[i];
    Check(NibbleDot8(codes, Word(placed, 0), Word(placed, 1), 0) == expected, "NibbleDot8 equals Σ code·q over 8 nibbles");
  }
}

void CheckCompare() {
  std::vector<float> ref = {1.0f, -2.0f, 0.5f, NAN};
  Comparison same = Compare(ref, ref, 0.0);
  Check(same.ok() && same.differing_bits == 0, "identical outputs compare bit-exact");
  std::vector<float> ulp = ref;
  ulp[2] = std::nextafter(ulp[2], 1.0f);
  Comparison strict = Compare(ref, ulp, 0.0);
  Check(!strict.ok() && strict.mismatches == 1 && strict.first_bad == 2, "one ulp is a mismatch at tolerance 0");
  Check(Compare(ref, ulp, 1e-5).ok() && Compare(ref, ulp, 1e-5).differing_bits == 1, "one ulp passes at tolerance 1e-5 but is counted");
  std::vector<float> far = ref;
  far[0] = 1.001f;
  Check(!Compare(ref, far, 1e-5).ok(), "a 1e-3 relative error fails at tolerance 1e-5");
  std::vector<float> nan_for_number = ref;
  nan_for_number[1] = NAN;
  Check(!Compare(ref, nan_for_number, 1.0).ok(), "NaN where the reference has a number is a mismatch");
  Check(!Compare(ref, std::vector<float>(3), 1.0).ok(), "a wrong output size is a mismatch");
  Check(Describe(strict).find("MISMATCH") != std::string::npos, "a mismatch is described as one");
}

void CheckKernelsDecomposition() {
  // The shapes would take long on one core; the decomposition does not depend on size, ragged edges do.
  for (int64_t block : {16, 32, 48, 128}) {
    W4Case c = MakeW4Case(9, 1000, 37, block, 17);
    Comparison cmp = Compare(ReferenceW4A8(c, 1), W4LikeGpu(c), 0.0);
    Check(cmp.ok() && cmp.differing_bits == 0, "W4A8 in the GPU decomposition (block " + std::to_string(block) + ") is bit-exact: " + Describe(cmp));
  }
  for (int64_t k : {64, 1001, 3072}) {
    W8Case c = MakeW8Case(5, k, 29, 18);
    Comparison cmp = Compare(ReferenceW8A8(c, 1), W8LikeGpu(c), 0.0);
    Check(cmp.ok() && cmp.differing_bits == 0, "W8A8 in the GPU decomposition (K " + std::to_string(k) + ") is bit-exact: " + Describe(cmp));
  }
}

void CheckReferences() {
  // W4A8 against float dequantization: within the per-token rounding bound s_a/2·Σ|W| (plus float slack).
  W4Case c = MakeW4Case(3, 256, 16, 32, 3);
  std::vector<float> y = ReferenceW4A8(c, 2);
  for (int64_t row = 0; row < c.m; row++) {
    float amax = 0.0f;
    for (int64_t i = 0; i < c.k; i++) amax = std::max(amax, std::fabs(c.a[static_cast<size_t>(row * c.k + i)]));
    for (int64_t col = 0; col < c.n; col++) {
      double exact = c.bias[static_cast<size_t>(col)], bound = 0;
      for (int64_t i = 0; i < c.k; i++) {
        int64_t b = i / c.block;
        uint8_t byte = c.b[static_cast<size_t>((col * c.blocks + b) * c.block / 2 + (i % c.block) / 2)];
        int code = i % 2 == 0 ? byte & 15 : byte >> 4;
        uint8_t zbyte = c.zero_points[static_cast<size_t>(col * ((c.blocks + 1) / 2) + b / 2)];
        int zero = b % 2 == 0 ? zbyte & 15 : zbyte >> 4;
        double w = (code - zero) * static_cast<double>(c.scales[static_cast<size_t>(col * c.blocks + b)]);
        exact += c.a[static_cast<size_t>(row * c.k + i)] * w;
        bound += std::fabs(w);
      }
      bound = bound * amax / 127.0 / 2.0 + 1e-4;
      Check(std::fabs(y[static_cast<size_t>(row * c.n + col)] - exact) <= bound, "W4A8 reference within the per-token rounding bound");
    }
  }
  // Normalized Hadamard (K = 1) is its own inverse.
  HadamardCase h = MakeHadamardCase(4, 512, 1, 4);
  HadamardCase twice = h;
  twice.x = ReferenceHadamard(h, 2);
  std::vector<float> back = ReferenceHadamard(twice, 2);
  Check(Compare(h.x, back, 1e-5).ok(), "Hadamard reference applied twice gives the input back");
  // Log2AttnMatMul against the float decomposition Â·V̂: within the 4-bit log√2 rounding of each probability.
  Log2Case l = MakeLog2Case(2, 5, 50, 8, 4, 6);
  std::vector<float> ly = ReferenceLog2(l, 2);
  double worst = 0;
  for (int64_t hh = 0; hh < l.heads; hh++)
    for (int64_t r = 0; r < l.m; r++)
      for (int64_t col = 0; col < l.n; col++) {
        double sum = 0;
        for (int64_t j = 0; j < l.t; j++)
          sum += l.a[static_cast<size_t>((hh * l.m + r) * l.t + j)] * l.v_scale *
                 (l.v[static_cast<size_t>((hh * l.t + j) * l.n + col)] - l.v_zero);
        worst = std::max(worst, std::fabs(sum - ly[static_cast<size_t>((hh * l.m + r) * l.n + col)]));
      }
  Check(worst > 0 && worst < 0.5 * 128 * l.v_scale, "Log2 reference close to the float product (codes round each probability)");
}

}  // namespace

int main() {
  CheckDp4a();
  CheckCompare();
  CheckKernelsDecomposition();
  CheckReferences();
  if (g_failures > 0) {
    std::fprintf(stderr, "host self-test: %d of %d checks failed\n", g_failures, g_checks);
    return 1;
  }
  std::printf("host self-test: %d checks passed\n", g_checks);
  return 0;
}
