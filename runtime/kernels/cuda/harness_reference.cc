#include "harness_reference.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

#include "../src/bcq_weights.h"
#include "../src/hadamard_rows.h"
#include "../src/log2_attn_rows.h"
#include "../src/packed_weights.h"

namespace onnxquant {
namespace harness {
namespace {

// Runs body(i) for i in [0, count) on up to `threads` threads.
void ParallelFor(int64_t count, int threads, const std::function<void(int64_t)>& body) {
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::min<int64_t>(count, 256))));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; t++)
    pool.emplace_back([&, t] {
      for (int64_t i = t; i < count; i += threads) body(i);
    });
  for (auto& th : pool) th.join();
}

std::vector<float> Normal(std::mt19937& rng, size_t count, float sigma) {
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(count);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<uint8_t> Bytes(std::mt19937& rng, size_t count) {
  std::uniform_int_distribution<int> d(0, 255);
  std::vector<uint8_t> v(count);
  for (auto& x : v) x = static_cast<uint8_t>(d(rng));
  return v;
}

std::vector<float> Uniform(std::mt19937& rng, size_t count, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(count);
  for (auto& x : v) x = d(rng);
  return v;
}

// Rows through the library's own per-token quantizer and scalar GEMM, as QuantizedMatMulKernel runs them.
std::vector<float> RunPacked(const PackedWeights& w, const float* a, int64_t m, const float* bias, int threads) {
  QuantizedActivations qa;
  qa.rows = m;
  qa.padded_k = w.PaddedK();
  qa.blocks = w.blocks;
  qa.q.resize(static_cast<size_t>(m * qa.padded_k));
  qa.scale.resize(static_cast<size_t>(m));
  qa.sums.resize(static_cast<size_t>(m * qa.blocks));
  for (int64_t row = 0; row < m; row++) QuantizeRow(a + row * w.k, w.k, w.block, qa, row);
  std::vector<float> y(static_cast<size_t>(m * w.n));
  ParallelFor(w.tiles, threads, [&](int64_t tile) { GemmScalar(w, qa, bias, y.data(), tile, tile + 1); });
  return y;
}

}  // namespace

W4Case MakeW4Case(int64_t m, int64_t k, int64_t n, int64_t block, uint32_t seed) {
  std::mt19937 rng(seed);
  W4Case c{m, k, n, block, (k + block - 1) / block, {}, {}, {}, {}, {}};
  c.a = Normal(rng, static_cast<size_t>(m * k), 1.0f);
  // A few per-token outliers, what per-token quantization is for.
  for (int64_t row = 0; row < m; row += 7) c.a[static_cast<size_t>(row * k + (row * 31) % k)] *= 20.0f;
  c.b = Bytes(rng, static_cast<size_t>(n * c.blocks * block / 2));
  c.scales = Uniform(rng, static_cast<size_t>(n * c.blocks), 0.001f, 0.02f);
  c.zero_points = Bytes(rng, static_cast<size_t>(n * ((c.blocks + 1) / 2)));
  c.bias = Normal(rng, static_cast<size_t>(n), 0.1f);
  return c;
}

W8Case MakeW8Case(int64_t m, int64_t k, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  W8Case c{m, k, n, {}, {}, {}, {}};
  c.a = Normal(rng, static_cast<size_t>(m * k), 1.0f);
  for (int64_t row = 0; row < m; row += 7) c.a[static_cast<size_t>(row * k + (row * 31) % k)] *= 20.0f;
  std::uniform_int_distribution<int> d(-127, 127);
  c.w.resize(static_cast<size_t>(k * n));
  for (auto& x : c.w) x = static_cast<int8_t>(d(rng));
  c.scales = Uniform(rng, static_cast<size_t>(n), 0.0005f, 0.005f);
  c.bias = Normal(rng, static_cast<size_t>(n), 0.1f);
  return c;
}

HadamardCase MakeHadamardCase(int64_t rows, int64_t d, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  HadamardCase c{rows, d, k, Normal(rng, static_cast<size_t>(rows * d), 1.0f), {}};
  if (k > 1) {
    std::uniform_int_distribution<int> sign(0, 1);
    c.base.resize(static_cast<size_t>(k * k));
    for (auto& s : c.base) s = sign(rng) != 0 ? 1 : -1;
  }
  return c;
}

Log2Case MakeLog2Case(int64_t heads, int64_t m, int64_t t, int64_t n, int bits, uint32_t seed) {
  std::mt19937 rng(seed);
  Log2Case c{heads, m, t, n, 1 << bits, 1.0f, 0.02f, 128, {}, {}, {}};
  // Softmax rows of random logits (so most probabilities are small, as in attention).
  c.a = Normal(rng, static_cast<size_t>(heads * m * t), 2.0f);
  for (int64_t r = 0; r < heads * m; r++) {
    float* row = c.a.data() + r * t;
    float top = *std::max_element(row, row + t), sum = 0.0f;
    for (int64_t j = 0; j < t; j++) sum += row[j] = std::exp(row[j] - top);
    for (int64_t j = 0; j < t; j++) row[j] /= sum;
  }
  // Decreasing thresholds between the log√2 levels s·2^(−q/2): a ≤ thresholds[q] for every q below a's code.
  for (int q = 0; q < c.levels; q++) c.thresholds.push_back(c.a_scale * std::pow(2.0f, -(q + 0.5f) / 2.0f));
  c.v = Bytes(rng, static_cast<size_t>(heads * t * n));
  return c;
}

BcqCase MakeBcqCase(int64_t m, int64_t k, int64_t n, int64_t planes, int64_t block, bool offsets, uint32_t seed) {
  std::mt19937 rng(seed);
  BcqCase c{m, k, n, planes, block, (k + block - 1) / block, (k + 7) / 8, {}, {}, {}, {}, {}};
  c.a = Normal(rng, static_cast<size_t>(m * k), 1.0f);
  c.bits = Bytes(rng, static_cast<size_t>(n * planes * c.groups));
  c.alphas = Uniform(rng, static_cast<size_t>(n * c.blocks * planes), 0.001f, 0.05f);
  if (offsets) c.offsets = Normal(rng, static_cast<size_t>(n * c.blocks), 0.01f);
  c.bias = Normal(rng, static_cast<size_t>(n), 0.1f);
  return c;
}

std::vector<float> ReferenceW4A8(const W4Case& c, int threads) {
  PackedWeights w = PackMatMulNBits(c.b.data(), c.scales.data(), c.zero_points.data(), c.k, c.n, c.block);
  return RunPacked(w, c.a.data(), c.m, c.bias.data(), threads);
}

std::vector<float> ReferenceW8A8(const W8Case& c, int threads) {
  PackedWeights w = PackInt8Weights(c.w.data(), c.scales.data(), c.n, c.k, c.n);
  return RunPacked(w, c.a.data(), c.m, c.bias.data(), threads);
}

std::vector<float> ReferenceHadamard(const HadamardCase& c, int threads) {
  std::vector<float> y(c.x.size());
  ParallelFor(c.rows, threads, [&](int64_t r) {
    HadamardTransformRow(c.x.data() + r * c.d, y.data() + r * c.d, c.d, c.k, c.base.empty() ? nullptr : c.base.data(), true);
  });
  return y;
}

std::vector<float> ReferenceLog2(const Log2Case& c, int threads) {
  std::vector<float> y(static_cast<size_t>(c.heads * c.m * c.n));
  Log2AttnProblem p{c.a.data(), c.v.data(), false, y.data(), c.m, c.t, c.n, c.thresholds.data(), c.levels, c.v_zero,
                    Log2AttnFactor(c.a_scale, c.v_scale, Log2AttnShift(c.levels)), Isa::Scalar};
  ParallelFor(c.heads, threads, [&](int64_t head) { Log2AttnRows(p, head, 0, c.m); });
  return y;
}

std::vector<float> ReferenceBcq(const BcqCase& c, int threads) {
  BcqWeights w = PackBcqWeights(c.bits.data(), c.alphas.data(), c.offsets.empty() ? nullptr : c.offsets.data(), c.k,
                                c.n, c.planes, c.block);
  std::vector<float> y(static_cast<size_t>(c.m * c.n));
  BcqTables tables;
  for (int64_t row = 0; row < c.m; row++) {
    BuildBcqTables(c.a.data() + row * c.k, w, tables);
    ParallelFor(w.tiles, threads, [&](int64_t tile) {
      BcqScalar(w, tables, c.bias.data(), y.data() + row * c.n, tile, tile + 1);
    });
  }
  return y;
}

Comparison Compare(const std::vector<float>& reference, const std::vector<float>& got, double tolerance) {
  Comparison c;
  c.count = reference.size();
  for (float r : reference)
    if (std::isfinite(r)) c.max_ref = std::max(c.max_ref, static_cast<double>(std::fabs(r)));
  const double allowed = tolerance * c.max_ref;
  if (got.size() != reference.size()) {
    c.mismatches = c.count > 0 ? c.count : 1;
    return c;
  }
  for (size_t i = 0; i < c.count; i++) {
    const float r = reference[i], g = got[i];
    if (std::memcmp(&r, &g, sizeof(float)) == 0) continue;
    c.differing_bits++;
    const bool both_nan = std::isnan(r) && std::isnan(g);
    const double diff = std::fabs(static_cast<double>(g) - static_cast<double>(r));
    if (!both_nan && !(diff <= allowed)) {
      if (c.mismatches == 0) c.first_bad = i;
      c.mismatches++;
    }
    if (!std::isnan(diff)) c.max_abs = std::max(c.max_abs, diff);
  }
  return c;
}

std::string Describe(const Comparison& c) {
  char text[200];
  if (c.differing_bits == 0) std::snprintf(text, sizeof text, "bit-exact (%zu values)", c.count);
  else
    std::snprintf(text, sizeof text, "%zu of %zu differ, %zu beyond tolerance, max |diff| %.3g (max |ref| %.3g)%s",
                  c.differing_bits, c.count, c.mismatches, c.max_abs, c.max_ref, c.ok() ? "" : " MISMATCH");
  return text;
}

}  // namespace harness
}  // namespace onnxquant
