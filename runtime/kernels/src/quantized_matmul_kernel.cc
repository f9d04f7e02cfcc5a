#include "quantized_matmul_kernel.h"

#include "hadamard_rows.h"
#include "kernel_guard.h"

#include <vector>

namespace onnxquant {
namespace {

constexpr int64_t kTilesPerTask = 4;  // 64 columns: enough tasks for 2-16 threads at N >= 768

struct QuantizeJob {
  QuantizeRowFn fn;
  const float* a;
  int64_t k, block;
  QuantizedActivations* out;
  const RowHadamard* hadamard;
};

void QuantizeOneRow(const QuantizeJob& j, int64_t row) {
  const float* src = j.a + row * j.k;
  if (j.hadamard->enabled) {
    // One buffer per pool thread, kept between runs: the transformed row stays in cache for the quantize.
    thread_local std::vector<float> transformed;
    if (transformed.size() < static_cast<size_t>(j.k)) transformed.resize(static_cast<size_t>(j.k));
    const int8_t* base = j.hadamard->base.empty() ? nullptr : j.hadamard->base.data();
    HadamardTransformRow(src, transformed.data(), j.k, j.hadamard->k, base, j.hadamard->normalized);
    src = transformed.data();
  }
  j.fn(src, j.k, j.block, *j.out, row);
}

struct GemmJob {
  GemmFn fn;
  const PackedWeights* w;
  const QuantizedActivations* a;
  const float* bias;
  float* y;
};

GemmFn PickGemm(Isa isa) {
  switch (isa) {
    case Isa::Avx512Vnni: return GemmAvx512Vnni;
    case Isa::AvxVnni: return CpuHasVexAvxVnni() ? GemmAvxVnni : GemmAvxVnniEvex;
    case Isa::Avx2: return GemmAvx2;
    default: return GemmScalar;
  }
}

}  // namespace

OrtStatusPtr QuantizedMatMulKernel::ComputeV2(OrtKernelContext* context) {
  return GuardedCompute(node_, [&] {
    Ort::KernelContext ctx(context);
    Compute(ctx);
  });
}

void QuantizedMatMulKernel::Compute(Ort::KernelContext& ctx) {
  Ort::ConstValue input = ctx.GetInput(0);
  std::vector<int64_t> shape = input.GetTensorTypeAndShapeInfo().GetShape();
  int64_t rows = RowsEndingInK(shape, w_.k);
  const float* bias = OptionalBias(ctx, bias_input_, w_.n);
  shape.back() = w_.n;
  Ort::UnownedValue output = ctx.GetOutput(0, shape);
  float* y = output.GetTensorMutableData<float>();
  if (rows == 0) return;

  QuantizedActivations a;
  a.rows = rows;
  a.padded_k = w_.PaddedK();
  a.blocks = w_.blocks;
  a.q.resize(static_cast<size_t>(rows * a.padded_k));
  a.scale.resize(static_cast<size_t>(rows));
  a.sums.resize(static_cast<size_t>(rows * a.blocks));
  QuantizeJob qj{isa_ == Isa::Avx512Vnni ? QuantizeRowAvx512 : QuantizeRow, input.GetTensorData<float>(), w_.k, w_.block, &a, &hadamard_};
  ctx.ParallelFor(
      [](void* data, size_t row) { QuantizeOneRow(*static_cast<QuantizeJob*>(data), static_cast<int64_t>(row)); },
      static_cast<size_t>(rows), 0, &qj);

  GemmJob gj{PickGemm(isa_), &w_, &a, bias, y};
  size_t tasks = static_cast<size_t>((w_.tiles + kTilesPerTask - 1) / kTilesPerTask);
  ctx.ParallelFor(
      [](void* data, size_t task) {
        auto* j = static_cast<GemmJob*>(data);
        int64_t t0 = static_cast<int64_t>(task) * kTilesPerTask;
        int64_t t1 = t0 + kTilesPerTask < j->w->tiles ? t0 + kTilesPerTask : j->w->tiles;
        j->fn(*j->w, *j->a, j->bias, j->y, t0, t1);
      },
      tasks, 0, &gj);
}

RowHadamard ReadRowHadamard(const OrtApi& api, const OrtKernelInfo* info, const std::string& node, int64_t row_length) {
  RowHadamard h;
  int64_t enabled = 0;
  if (OrtStatus* status = api.KernelInfoGetAttribute_int64(info, "hadamard", &enabled)) {
    api.ReleaseStatus(status);
    return h;
  }
  if (enabled == 0) return h;
  h.enabled = true;
  int64_t normalized = 1;
  if (OrtStatus* status = api.KernelInfoGetAttribute_int64(info, "hadamard_normalized", &normalized)) api.ReleaseStatus(status);
  h.normalized = normalized != 0;
  size_t count = 0;
  if (OrtStatus* status = api.KernelInfoGetAttributeArray_int64(info, "hadamard_base", nullptr, &count)) {
    api.ReleaseStatus(status);
    count = 0;
  }
  if (count > 0) {
    std::vector<int64_t> values(count);
    if (OrtStatus* status = api.KernelInfoGetAttributeArray_int64(info, "hadamard_base", values.data(), &count)) {
      api.ReleaseStatus(status);
      throw std::runtime_error(node + ": hadamard_base could not be read");
    }
    int64_t k = 1;
    while (k * k < static_cast<int64_t>(count)) k++;
    if (k * k != static_cast<int64_t>(count)) throw std::runtime_error(node + ": hadamard_base must hold K·K values of ±1");
    for (int64_t v : values) {
      if (v != 1 && v != -1) throw std::runtime_error(node + ": hadamard_base must hold only +1 and -1");
      h.base.push_back(static_cast<int8_t>(v));
    }
    h.k = k;
  }
  if (!IsHadamardOrder(row_length, h.k))
    throw std::runtime_error(node + ": with hadamard, K (" + std::to_string(row_length) + ") must be " + std::to_string(h.k) + "·2^m");
  return h;
}

std::string OptionalStringAttribute(const OrtApi& api, const OrtKernelInfo* info, const char* name) {
  size_t size = 0;
  OrtStatus* status = api.KernelInfoGetAttribute_string(info, name, nullptr, &size);
  if (status != nullptr) {
    api.ReleaseStatus(status);
    return "";
  }
  std::string value(size, '\0');
  status = api.KernelInfoGetAttribute_string(info, name, value.data(), &size);
  if (status != nullptr) {
    api.ReleaseStatus(status);
    return "";
  }
  value.resize(size > 0 ? size - 1 : 0);  // size counts the terminating NUL
  return value;
}

Ort::ConstValue ConstantInput(const Ort::ConstKernelInfo& info, size_t index, const char* op, const char* what) {
  int is_constant = 0;
  Ort::ConstValue v = info.GetTensorConstantInput(index, &is_constant);
  if (!is_constant || static_cast<const OrtValue*>(v) == nullptr)
    throw std::runtime_error(std::string(op) + " node '" + info.GetNodeName() + "': input " + std::to_string(index) +
                             " (" + what + ") must be a constant initializer (weights are packed once, when the session loads)");
  return v;
}

Isa ResolveNodeIsa(const OrtApi& api, const OrtKernelInfo* info, const std::string& op, const std::string& node) {
  Isa isa;
  std::string error;
  if (!ResolveIsa(OptionalStringAttribute(api, info, "isa"), &isa, &error))
    throw std::runtime_error(op + " node '" + node + "': " + error);
  return isa;
}

}  // namespace onnxquant
