// com.onnxquant MatMulW4A8 (version 1): Y = A · dequant(B) + bias with A quantized per token to int8 at run time.
// Inputs and attributes are com.microsoft MatMulNBits' (bits = 4), so a MatMulNBits node becomes this op by
// changing its domain and type: A float [..., K]; B uint8 [N][blocks][block_size/2] (element 2j in the low nibble);
// scales float [N·blocks]; zero_points uint8 [N][⌈blocks/2⌉] (optional, default 8); bias float [N] (optional).
// Attributes K, N, block_size (a multiple of 8), bits (4; or 8: B [N][blocks][block_size] one code per byte, zero
// points [N][blocks] one per byte, default 128 — the int8 LM head of the w4a8 presets, MatMulNBits' 8-bit layout),
// isa (optional: auto, scalar, avx2, avxvnni, avx512vnni), and hadamard / hadamard_base / hadamard_normalized
// (optional: each row of A goes through HadamardTransform's arithmetic before it is quantized; RowHadamard).
#include "matmul_w4a8.h"

namespace onnxquant {

static int64_t RequiredInt(const Ort::ConstKernelInfo& info, const char* name) {
  return info.GetAttribute<int64_t>(name);
}

static PackedWeights PackNBits(const Ort::ConstKernelInfo& info) {
  int64_t k = RequiredInt(info, "K"), n = RequiredInt(info, "N"), bs = RequiredInt(info, "block_size");
  int64_t bits = 4;
  {
    // bits is optional in MatMulNBits' schema history (default 4).
    int64_t value;
    OrtStatus* status = Ort::GetApi().KernelInfoGetAttribute_int64(info, "bits", &value);
    if (status == nullptr) bits = value;
    else Ort::GetApi().ReleaseStatus(status);
  }
  std::string node = info.GetNodeName();
  if (bits != 4 && bits != 8)
    throw std::runtime_error("MatMulW4A8 node '" + node + "': bits = " + std::to_string(bits) + "; only 4 and 8 are supported");
  if (k <= 0 || n <= 0 || bs < 8 || bs % 8 != 0)
    throw std::runtime_error("MatMulW4A8 node '" + node + "': needs K, N > 0 and block_size a multiple of 8");
  int64_t blocks = (k + bs - 1) / bs, blob = bs * bits / 8;
  Ort::ConstValue b = ConstantInput(info, 1, "MatMulW4A8", "B");
  Ort::ConstValue s = ConstantInput(info, 2, "MatMulW4A8", "scales");
  if (b.GetTensorTypeAndShapeInfo().GetElementCount() != static_cast<size_t>(n * blocks * blob))
    throw std::runtime_error("MatMulW4A8 node '" + node + "': B must hold N·⌈K/block_size⌉·block_size·bits/8 bytes");
  if (s.GetTensorTypeAndShapeInfo().GetElementCount() != static_cast<size_t>(n * blocks))
    throw std::runtime_error("MatMulW4A8 node '" + node + "': scales must hold N·⌈K/block_size⌉ values");
  const uint8_t* zp = nullptr;
  int64_t zrow = (blocks * bits + 7) / 8;
  if (info.GetInputCount() > 3) {
    int is_constant = 0;
    Ort::ConstValue z = info.GetTensorConstantInput(3, &is_constant);
    if (static_cast<const OrtValue*>(z) != nullptr) {
      if (z.GetTensorTypeAndShapeInfo().GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8 ||
          z.GetTensorTypeAndShapeInfo().GetElementCount() != static_cast<size_t>(n * zrow))
        throw std::runtime_error("MatMulW4A8 node '" + node + "': zero_points must be packed uint8 [N, ⌈blocks·bits/8⌉]");
      zp = z.GetTensorData<uint8_t>();
    }
  }
  if (bits == 8) return PackMatMulNBits8(b.GetTensorData<uint8_t>(), s.GetTensorData<float>(), zp, k, n, bs);
  return PackMatMulNBits(b.GetTensorData<uint8_t>(), s.GetTensorData<float>(), zp, k, n, bs);
}

OrtStatusPtr MatMulW4A8Op::CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
  try {
    Ort::ConstKernelInfo ki(info);
    std::string node = ki.GetNodeName();
    Isa isa = ResolveNodeIsa(api, info, "MatMulW4A8", node);
    PackedWeights weights = PackNBits(ki);
    std::string name = "MatMulW4A8 node '" + node + "'";
    RowHadamard hadamard = ReadRowHadamard(api, info, name, weights.k);
    *kernel = new QuantizedMatMulKernel(std::move(weights), isa, 4, name, std::move(hadamard));
    return nullptr;
  } catch (const std::exception& e) {
    return api.CreateStatus(ORT_INVALID_ARGUMENT, e.what());
  }
}

ONNXTensorElementDataType MatMulW4A8Op::GetInputType(size_t index) const {
  return index == 1 || index == 3 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8 : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
}

}  // namespace onnxquant
