// Standalone check and benchmark of the CUDA kernels (no ONNX Runtime, no .NET): seeded inputs at the issue's
// shapes, every kernel compared with the CPU library's scalar path (harness_reference.cc), then timed with CUDA
// events against a cuBLAS fp16 GEMM (cublasGemmEx, fp32 accumulation) of the same M×K×N. Exit status 1 on any
// mismatch, 2 when no usable GPU is present or a CUDA call fails.
//   onnxquant_cuda_harness [--quick] [--rounds R] [--reps N]
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../src/log2_attn_rows.h"
#include "gpu_layouts.h"
#include "harness_reference.h"
#include "onnxquant_cuda.h"

using namespace onnxquant;
using namespace onnxquant::harness;

namespace {

// Integer kernels and the float kernels alike are designed to give the CPU scalar path's bits; the float ones
// (Hadamard, BCQ) are accepted within 1e-5 of max|ref| and the table says whether they were exact.
constexpr double kIntegerTolerance = 0.0, kFloatTolerance = 1e-5;

int g_rounds = 5, g_reps = 20;

#define CHECK_CUDA(call)                                                                                         \
  do {                                                                                                           \
    cudaError_t e_ = (call);                                                                                     \
    if (e_ != cudaSuccess) {                                                                                     \
      std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorName(e_), __FILE__, __LINE__, #call);     \
      std::exit(2);                                                                                              \
    }                                                                                                            \
  } while (0)
#define CHECK_CUBLAS(call)                                                                                       \
  do {                                                                                                           \
    cublasStatus_t s_ = (call);                                                                                  \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                           \
      std::fprintf(stderr, "cuBLAS error %d at %s:%d: %s\n", static_cast<int>(s_), __FILE__, __LINE__, #call);   \
      std::exit(2);                                                                                              \
    }                                                                                                            \
  } while (0)

template <typename T>
T* Upload(const std::vector<T>& host) {
  if (host.empty()) return nullptr;
  T* device = nullptr;
  CHECK_CUDA(cudaMalloc(&device, host.size() * sizeof(T)));
  CHECK_CUDA(cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return device;
}

std::vector<float> Download(const float* device, size_t count) {
  std::vector<float> host(count);
  CHECK_CUDA(cudaMemcpy(host.data(), device, count * sizeof(float), cudaMemcpyDeviceToHost));
  return host;
}

// Median over rounds of the mean time of `reps` back-to-back launches, in milliseconds.
double TimeMs(const std::function<void()>& launch) {
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  for (int i = 0; i < 3; i++) launch();
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> rounds;
  for (int r = 0; r < g_rounds; r++) {
    CHECK_CUDA(cudaEventRecord(start));
    for (int i = 0; i < g_reps; i++) launch();
    CHECK_CUDA(cudaEventRecord(stop));
    CHECK_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
    rounds.push_back(ms / g_reps);
  }
  CHECK_CUDA(cudaEventDestroy(start));
  CHECK_CUDA(cudaEventDestroy(stop));
  std::sort(rounds.begin(), rounds.end());
  return rounds[rounds.size() / 2];
}

// The fp16 baseline: batch × (M×K · K×N), row-major, fp32 accumulation, random fp16 operands.
struct CublasGemm {
  cublasHandle_t handle;
  __half *a = nullptr, *b = nullptr, *c = nullptr;
  int64_t batch, m, k, n;
  CublasGemm(cublasHandle_t h, int64_t batch_, int64_t m_, int64_t k_, int64_t n_)
      : handle(h), batch(batch_), m(m_), k(k_), n(n_) {
    std::vector<__half> ha(static_cast<size_t>(batch * m * k)), hb(static_cast<size_t>(batch * k * n));
    for (size_t i = 0; i < ha.size(); i++) ha[i] = __float2half(static_cast<float>((i * 7919) % 97) / 97.0f - 0.5f);
    for (size_t i = 0; i < hb.size(); i++) hb[i] = __float2half(static_cast<float>((i * 104729) % 89) / 89.0f - 0.5f);
    a = Upload(ha);
    b = Upload(hb);
    CHECK_CUDA(cudaMalloc(&c, static_cast<size_t>(batch * m * n) * sizeof(__half)));
  }
  ~CublasGemm() {
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
  }
  void Run() const {
    const float alpha = 1.0f, beta = 0.0f;
    // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ.
    if (batch == 1)
      CHECK_CUBLAS(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                                static_cast<int>(k), &alpha, b, CUDA_R_16F, static_cast<int>(n), a, CUDA_R_16F,
                                static_cast<int>(k), &beta, c, CUDA_R_16F, static_cast<int>(n), CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT));
    else
      CHECK_CUBLAS(cublasGemmStridedBatchedEx(
          handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, b,
          CUDA_R_16F, static_cast<int>(n), k * n, a, CUDA_R_16F, static_cast<int>(k), m * k, &beta, c, CUDA_R_16F,
          static_cast<int>(n), m * n, static_cast<int>(batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
};

struct Row {
  std::string op, shape, check;
  double ms, cublas_ms, gops_equivalent;
};
std::vector<Row> g_rows;
bool g_failed = false;
int g_threads = 1;

void Report(const std::string& op, const std::string& shape, const Comparison& cmp, double ms, double cublas_ms,
            double ops) {
  g_rows.push_back({op, shape, Describe(cmp), ms, cublas_ms, ops / (ms * 1e6)});
  if (!cmp.ok()) {
    g_failed = true;
    std::fprintf(stderr, "MISMATCH %s %s: %s (first at index %zu)\n", op.c_str(), shape.c_str(), Describe(cmp).c_str(), cmp.first_bad);
  }
  std::fprintf(stderr, "  %s %s: %s\n", op.c_str(), shape.c_str(), Describe(cmp).c_str());
}

std::string Shape(int64_t a, int64_t b, int64_t c) {
  return std::to_string(a) + "x" + std::to_string(b) + "x" + std::to_string(c);
}

void RunW4A8(cublasHandle_t h, int64_t m, int64_t k, int64_t n, int64_t block) {
  W4Case c = MakeW4Case(m, k, n, block, 1234);
  std::vector<float> ref = ReferenceW4A8(c, g_threads);
  std::vector<uint32_t> words(c.b.size() / 4);
  std::memcpy(words.data(), c.b.data(), c.b.size());  // little-endian words of 8 codes
  uint32_t* d_codes = Upload(words);
  float* d_scales = Upload(c.scales);
  int32_t* d_zeros = Upload(UnpackZeroPoints(c.zero_points.data(), n, c.blocks));
  float *d_a = Upload(c.a), *d_bias = Upload(c.bias), *d_y = nullptr;
  CHECK_CUDA(cudaMalloc(&d_y, static_cast<size_t>(m * n) * sizeof(float)));
  cuda::DeviceW4Weights w{n, k, block, c.blocks, d_codes, d_scales, d_zeros};
  cuda::DeviceActivations ws;
  CHECK_CUDA(cuda::AllocateActivations(m, c.blocks * block, c.blocks, true, &ws));
  CHECK_CUDA(cuda::MatMulW4A8(w, d_a, m, d_bias, d_y, ws, 0));
  Comparison cmp = Compare(ref, Download(d_y, ref.size()), kIntegerTolerance);
  double ms = TimeMs([&] { CHECK_CUDA(cuda::MatMulW4A8(w, d_a, m, d_bias, d_y, ws, 0)); });
  CublasGemm g(h, 1, m, k, n);
  double cms = TimeMs([&] { g.Run(); });
  Report("MatMulW4A8 g" + std::to_string(block), Shape(m, k, n), cmp, ms, cms, 2.0 * m * k * n);
  cuda::FreeActivations(&ws);
  for (void* p : {static_cast<void*>(d_codes), static_cast<void*>(d_scales), static_cast<void*>(d_zeros),
                  static_cast<void*>(d_a), static_cast<void*>(d_bias), static_cast<void*>(d_y)})
    cudaFree(p);
}

void RunW8A8(cublasHandle_t h, int64_t m, int64_t k, int64_t n) {
  W8Case c = MakeW8Case(m, k, n, 4321);
  std::vector<float> ref = ReferenceW8A8(c, g_threads);
  uint32_t* d_codes = Upload(Int8ColumnWords(c.w.data(), k, n));
  float* d_scales = Upload(PerColumnScales(c.scales.data(), n, n));
  float *d_a = Upload(c.a), *d_bias = Upload(c.bias), *d_y = nullptr;
  CHECK_CUDA(cudaMalloc(&d_y, static_cast<size_t>(m * n) * sizeof(float)));
  cuda::DeviceW8Weights w{n, k, d_codes, d_scales};
  cuda::DeviceActivations ws;
  CHECK_CUDA(cuda::AllocateActivations(m, Int8PaddedK(k), 1, false, &ws));
  CHECK_CUDA(cuda::MatMulW8A8(w, d_a, m, d_bias, d_y, ws, 0));
  Comparison cmp = Compare(ref, Download(d_y, ref.size()), kIntegerTolerance);
  double ms = TimeMs([&] { CHECK_CUDA(cuda::MatMulW8A8(w, d_a, m, d_bias, d_y, ws, 0)); });
  CublasGemm g(h, 1, m, k, n);
  double cms = TimeMs([&] { g.Run(); });
  Report("MatMulW8A8", Shape(m, k, n), cmp, ms, cms, 2.0 * m * k * n);
  cuda::FreeActivations(&ws);
  for (void* p : {static_cast<void*>(d_codes), static_cast<void*>(d_scales), static_cast<void*>(d_a),
                  static_cast<void*>(d_bias), static_cast<void*>(d_y)})
    cudaFree(p);
}

// Baseline: the dense rows×D·D×D GEMM the transform replaces.
void RunHadamard(cublasHandle_t h, int64_t rows, int64_t d, int64_t k) {
  HadamardCase c = MakeHadamardCase(rows, d, k, 99);
  std::vector<float> ref = ReferenceHadamard(c, g_threads);
  float *d_x = Upload(c.x), *d_y = nullptr;
  int8_t* d_base = Upload(c.base);
  CHECK_CUDA(cudaMalloc(&d_y, c.x.size() * sizeof(float)));
  CHECK_CUDA(cuda::HadamardTransform(d_x, d_y, rows, d, k, d_base, true, 0));
  Comparison cmp = Compare(ref, Download(d_y, ref.size()), kFloatTolerance);
  double ms = TimeMs([&] { CHECK_CUDA(cuda::HadamardTransform(d_x, d_y, rows, d, k, d_base, true, 0)); });
  CublasGemm g(h, 1, rows, d, d);
  double cms = TimeMs([&] { g.Run(); });
  Report("HadamardTransform K=" + std::to_string(k), Shape(rows, d, d), cmp, ms, cms, 2.0 * rows * d * d);
  cudaFree(d_x);
  cudaFree(d_y);
  cudaFree(d_base);
}

// Baseline: the batched heads × (M×T · T×N) GEMM of float attention probabilities times V.
void RunLog2(cublasHandle_t h, int64_t heads, int64_t m, int64_t t, int64_t n, int bits) {
  Log2Case c = MakeLog2Case(heads, m, t, n, bits, 77);
  std::vector<float> ref = ReferenceLog2(c, g_threads);
  float *d_a = Upload(c.a), *d_thr = Upload(c.thresholds), *d_y = nullptr;
  uint8_t* d_v = Upload(c.v);
  CHECK_CUDA(cudaMalloc(&d_y, ref.size() * sizeof(float)));
  const double factor = Log2AttnFactor(c.a_scale, c.v_scale, Log2AttnShift(c.levels));
  auto run = [&] {
    CHECK_CUDA(cuda::Log2AttnMatMul(d_a, d_v, false, c.v_zero, d_y, heads, m, t, n, d_thr, c.levels, factor, 0));
  };
  run();
  Comparison cmp = Compare(ref, Download(d_y, ref.size()), kIntegerTolerance);
  double ms = TimeMs(run);
  CublasGemm g(h, heads, m, t, n);
  double cms = TimeMs([&] { g.Run(); });
  Report("Log2AttnMatMul " + std::to_string(bits) + "-bit", std::to_string(heads) + "x" + Shape(m, t, n), cmp, ms, cms,
         2.0 * heads * m * t * n);
  cudaFree(d_a);
  cudaFree(d_thr);
  cudaFree(d_y);
  cudaFree(d_v);
}

void RunBcq(cublasHandle_t h, int64_t m, int64_t k, int64_t n, int64_t planes, int64_t block, bool offsets) {
  BcqCase c = MakeBcqCase(m, k, n, planes, block, offsets, 2024);
  std::vector<float> ref = ReferenceBcq(c, g_threads);
  uint8_t* d_bits = Upload(c.bits);
  float *d_alphas = Upload(c.alphas), *d_offsets = Upload(c.offsets), *d_a = Upload(c.a), *d_bias = Upload(c.bias);
  float* d_y = nullptr;
  CHECK_CUDA(cudaMalloc(&d_y, ref.size() * sizeof(float)));
  cuda::DeviceBcqWeights w{n, k, planes, block, d_bits, d_alphas, d_offsets};
  CHECK_CUDA(cuda::BcqMatMul(w, d_a, m, d_bias, d_y, 0));
  Comparison cmp = Compare(ref, Download(d_y, ref.size()), kFloatTolerance);
  double ms = TimeMs([&] { CHECK_CUDA(cuda::BcqMatMul(w, d_a, m, d_bias, d_y, 0)); });
  CublasGemm g(h, 1, m, k, n);
  double cms = TimeMs([&] { g.Run(); });
  Report("BcqMatMul " + std::to_string(planes) + "-plane g" + std::to_string(block) + (offsets ? " +offsets" : ""),
         Shape(m, k, n), cmp, ms, cms, 2.0 * m * k * n);
  for (void* p : {static_cast<void*>(d_bits), static_cast<void*>(d_alphas), static_cast<void*>(d_offsets),
                  static_cast<void*>(d_a), static_cast<void*>(d_bias), static_cast<void*>(d_y)})
    cudaFree(p);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "--quick") quick = true;
    else if (arg == "--rounds" && i + 1 < argc) g_rounds = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--reps" && i + 1 < argc) g_reps = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--rounds R] [--reps N]\n", argv[0]);
      return 2;
    }
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "no CUDA device: this harness needs a GPU (compute capability 6.1+)\n");
    return 2;
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  if (prop.major * 10 + prop.minor < 61) {
    std::fprintf(stderr, "GPU %s has compute capability %d.%d; dp4a needs 6.1+\n", prop.name, prop.major, prop.minor);
    return 2;
  }
  g_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cublasHandle_t handle;
  CHECK_CUBLAS(cublasCreate(&handle));
  std::fprintf(stderr, "checking against the CPU scalar path (%d host threads) and timing...\n", g_threads);

  // The issue's GEMM shapes: ViT-B MLP (197 tokens), Llama decode, a 512-token prefill.
  struct Gemm { int64_t m, k, n; };
  std::vector<Gemm> gemms = {{197, 768, 3072}, {197, 3072, 768}, {1, 2048, 8192}, {512, 4096, 4096}};
  if (quick) gemms = {{197, 768, 3072}, {1, 2048, 8192}, {13, 136, 72}};
  for (const Gemm& g : gemms) RunW4A8(handle, g.m, g.k, g.n, 32);
  RunW4A8(handle, quick ? 5 : 1, 1000, 264, 48);  // a block size that is not a multiple of 32, ragged K and N
  for (const Gemm& g : gemms) RunW8A8(handle, g.m, g.k, g.n);
  RunW8A8(handle, 70, 1001, 99);  // ragged K (not a multiple of 4) and N
  // Hadamard: QuaRot's online rotations (ViT-B 3072 = 12·256, Llama 4096 = 2^12, 14336 = 28·512).
  RunHadamard(handle, 197, 3072, 12);
  RunHadamard(handle, quick ? 16 : 2048, 4096, 1);
  if (!quick) RunHadamard(handle, 1, 14336, 28);
  // Log2AttnMatMul: ViT-B/16 attention, 12 heads × 197 tokens × 64, at 4 bits (RepQ-ViT) and 8 bits (wide path).
  RunLog2(handle, 12, 197, 197, 64, 4);
  RunLog2(handle, quick ? 2 : 12, 197, 197, 64, 8);
  // BcqMatMul: decode shapes of a 7B model at 3 and 2 bits (GPTQT), and a few rows.
  RunBcq(handle, 1, 4096, 4096, 3, 128, true);
  RunBcq(handle, 1, 4096, 11008, 2, 128, false);
  if (!quick) RunBcq(handle, 1, 11008, 4096, 3, 128, true);
  RunBcq(handle, 8, 1000, 200, 4, 40, true);

  std::printf("GPU: %s (sm_%d%d); median of %d rounds x %d launches; cuBLAS: cublasGemmEx fp16 in/out, fp32 accumulation\n",
              prop.name, prop.major, prop.minor, g_rounds, g_reps);
  std::printf("| op | shape (M×K×N) | check vs CPU scalar | ms | cuBLAS fp16 ms | GOP/s (2·M·K·N) | time vs cuBLAS |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const Row& r : g_rows)
    std::printf("| %s | %s | %s | %.4f | %.4f | %.1f | %.2fx |\n", r.op.c_str(), r.shape.c_str(), r.check.c_str(), r.ms,
                r.cublas_ms, r.gops_equivalent, r.ms / r.cublas_ms);
  cublasDestroy(handle);
  if (g_failed) {
    std::fprintf(stderr, "FAILED: at least one kernel differs from the CPU scalar path\n");
    return 1;
  }
  std::fprintf(stderr, "all kernels match the CPU scalar path\n");
  return 0;
}
