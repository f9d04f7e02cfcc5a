// com.onnxquant BcqMatMul (version 1): Y = A · Ŵ + bias with binary-coded weights Ŵ[k,n] = c[n,b] + Σᵢ α[n,b,i]·bᵢ
// (bᵢ ∈ {±1}, b = k / block_size), computed by lookup tables over groups of 8 activations (LUT-GEMM): activations
// stay float, each plane costs one table lookup per 8 weights.
//   A float [..., K]
//   planes uint8 [N, P, ⌈K/8⌉]: bit j of byte [n, i, g] is plane i's sign of weight k = 8g + j (1: +1, 0: −1)
//   alphas float [N, ⌈K/block_size⌉, P]
//   offsets float [N, ⌈K/block_size⌉] (optional: c = 0)
//   bias float [N] (optional)
// Attributes K, N, planes (P, 1–4), block_size (a multiple of 8), isa (optional: auto, scalar, avx2, avx512vnni —
// the last runs the AVX-512 F path on CPUs that have it).
#include "bcq_matmul.h"

#include "kernel_guard.h"

#include "quantized_matmul_kernel.h"

namespace onnxquant {
namespace {

constexpr int64_t kTilesPerTask = 8;  // 128 columns per task

BcqWeights PackBcq(const Ort::ConstKernelInfo& info) {
  std::string node = info.GetNodeName();
  std::string where = "BcqMatMul node '" + node + "': ";
  BcqWeights w;
  w.k = info.GetAttribute<int64_t>("K");
  w.n = info.GetAttribute<int64_t>("N");
  w.planes = info.GetAttribute<int64_t>("planes");
  w.block = info.GetAttribute<int64_t>("block_size");
  if (w.k <= 0 || w.n <= 0) throw std::runtime_error(where + "needs K, N > 0");
  if (w.planes < 1 || w.planes > 4) throw std::runtime_error(where + "planes = " + std::to_string(w.planes) + "; use 1 to 4");
  if (w.block < 8 || w.block % 8 != 0) throw std::runtime_error(where + "block_size must be a multiple of 8");
  const int64_t blocks = (w.k + w.block - 1) / w.block, groups = (w.k + 7) / 8;
  Ort::ConstValue planes = ConstantInput(info, 1, "BcqMatMul", "planes");
  Ort::ConstValue alphas = ConstantInput(info, 2, "BcqMatMul", "alphas");
  if (planes.GetTensorTypeAndShapeInfo().GetElementCount() != static_cast<size_t>(w.n * w.planes * groups))
    throw std::runtime_error(where + "planes must hold N·P·⌈K/8⌉ bytes");
  if (alphas.GetTensorTypeAndShapeInfo().GetElementCount() != static_cast<size_t>(w.n * blocks * w.planes))
    throw std::runtime_error(where + "alphas must hold N·⌈K/block_size⌉·P values");
  const float* offsets = nullptr;
  if (info.GetInputCount() > 3) {
    int is_constant = 0;
    Ort::ConstValue c = info.GetTensorConstantInput(3, &is_constant);
    if (static_cast<const OrtValue*>(c) != nullptr) {
      if (c.GetTensorTypeAndShapeInfo().GetElementCount() != static_cast<size_t>(w.n * blocks))
        throw std::runtime_error(where + "offsets must hold N·⌈K/block_size⌉ values");
      offsets = c.GetTensorData<float>();
    }
  }
  return PackBcqWeights(planes.GetTensorData<uint8_t>(), alphas.GetTensorData<float>(), offsets, w.k, w.n, w.planes,
                        w.block);
}

BcqFn PickBcq(Isa isa) {
  switch (isa) {
    case Isa::Avx512Vnni: return BcqAvx512;
    case Isa::AvxVnni:  // no integer dot product here: the AVX2 code is the 256-bit path
    case Isa::Avx2: return BcqAvx2;
    default: return BcqScalar;
  }
}

struct BcqJob {
  BcqFn fn;
  const BcqWeights* w;
  const BcqTables* t;
  const float* bias;
  float* y;
};

}  // namespace

OrtStatusPtr BcqMatMulOp::CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
  try {
    Ort::ConstKernelInfo ki(info);
    std::string node = ki.GetNodeName();
    Isa isa = ResolveNodeIsa(api, info, "BcqMatMul", node);
    *kernel = new BcqMatMulKernel(PackBcq(ki), isa, "BcqMatMul node '" + node + "'");
    return nullptr;
  } catch (const std::exception& e) {
    return api.CreateStatus(ORT_INVALID_ARGUMENT, e.what());
  }
}

OrtStatusPtr BcqMatMulKernel::ComputeV2(OrtKernelContext* context) {
  return GuardedCompute(node_, [&] {
    Ort::KernelContext ctx(context);
    Compute(ctx);
  });
}

void BcqMatMulKernel::Compute(Ort::KernelContext& ctx) {
  Ort::ConstValue input = ctx.GetInput(0);
  std::vector<int64_t> shape = input.GetTensorTypeAndShapeInfo().GetShape();
  int64_t rows = RowsEndingInK(shape, w_.k);
  // An offsets input that is not a constant initializer was not packed at load: refuse it rather than ignore it.
  if (!w_.has_offsets && ctx.GetInputCount() > 3 && static_cast<const OrtValue*>(ctx.GetInput(3)) != nullptr)
    throw std::runtime_error("input 3 (offsets) must be a constant initializer (weights are packed once, when the session loads)");
  const float* bias = OptionalBias(ctx, 4, w_.n);
  shape.back() = w_.n;
  Ort::UnownedValue output = ctx.GetOutput(0, shape);
  float* y = output.GetTensorMutableData<float>();
  const float* a = input.GetTensorData<float>();
  // The tables of one row (⌈K/8⌉ KiB) are rebuilt for every row and kept per thread between calls: no allocation
  // once warm, and concurrent Run calls on one session never share them.
  thread_local BcqTables tables;
  BcqJob job{PickBcq(isa_), &w_, &tables, bias, nullptr};
  size_t tasks = static_cast<size_t>((w_.tiles + kTilesPerTask - 1) / kTilesPerTask);
  for (int64_t row = 0; row < rows; row++) {
    BuildBcqTables(a + row * w_.k, w_, tables);
    job.y = y + row * w_.n;
    auto body = [](void* data, size_t task) {
      auto* j = static_cast<BcqJob*>(data);
      int64_t t0 = static_cast<int64_t>(task) * kTilesPerTask;
      int64_t t1 = t0 + kTilesPerTask < j->w->tiles ? t0 + kTilesPerTask : j->w->tiles;
      j->fn(*j->w, *j->t, j->bias, j->y, t0, t1);
    };
    if (tasks == 1) body(&job, 0);
    else ctx.ParallelFor(body, tasks, 0, &job);
  }
}

}  // namespace onnxquant
