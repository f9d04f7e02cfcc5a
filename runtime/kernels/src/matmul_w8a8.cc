// com.onnxquant MatMulW8A8 (version 1): Y = A · (W · diag(w_scale)) + bias with A quantized per token to int8 at
// run time (what activations with per-token outliers need) and int32 accumulation. Inputs: A float [..., K];
// W int8 [K, N] (ONNX MatMul's layout, as a QDQ graph stores it); w_scale float [N] or one value; w_zero_point int8
// (optional, must be 0: symmetric weights); bias float [N] (optional). Attributes isa (optional) and hadamard / hadamard_base / hadamard_normalized (optional; RowHadamard). K ≤ 65536 keeps
// every int32 sum exact.
#include "matmul_w8a8.h"

namespace onnxquant {

static PackedWeights PackW8(const Ort::ConstKernelInfo& info) {
  std::string node = info.GetNodeName();
  auto fail = [&](const std::string& what) { return std::runtime_error("MatMulW8A8 node '" + node + "': " + what); };
  Ort::ConstValue wv = ConstantInput(info, 1, "MatMulW8A8", "W");
  Ort::ConstValue sv = ConstantInput(info, 2, "MatMulW8A8", "w_scale");
  auto wshape = wv.GetTensorTypeAndShapeInfo().GetShape();
  if (wshape.size() != 2 || wv.GetTensorTypeAndShapeInfo().GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8)
    throw fail("W must be an int8 matrix [K, N]");
  int64_t k = wshape[0], n = wshape[1];
  if (k <= 0 || n <= 0 || k > 65536) throw fail("needs 0 < K <= 65536 and N > 0");
  size_t scales = sv.GetTensorTypeAndShapeInfo().GetElementCount();
  if (scales != 1 && scales != static_cast<size_t>(n)) throw fail("w_scale must hold 1 or N values");
  if (info.GetInputCount() > 3) {
    int is_constant = 0;
    Ort::ConstValue z = info.GetTensorConstantInput(3, &is_constant);
    if (static_cast<const OrtValue*>(z) != nullptr) {
      const int8_t* zp = z.GetTensorData<int8_t>();
      for (size_t i = 0; i < z.GetTensorTypeAndShapeInfo().GetElementCount(); i++)
        if (zp[i] != 0) throw fail("w_zero_point must be 0 (symmetric weights)");
    }
  }
  return PackInt8Weights(wv.GetTensorData<int8_t>(), sv.GetTensorData<float>(), static_cast<int64_t>(scales), k, n);
}

OrtStatusPtr MatMulW8A8Op::CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
  try {
    Ort::ConstKernelInfo ki(info);
    std::string node = ki.GetNodeName();
    Isa isa = ResolveNodeIsa(api, info, "MatMulW8A8", node);
    PackedWeights weights = PackW8(ki);
    std::string name = "MatMulW8A8 node '" + node + "'";
    RowHadamard hadamard = ReadRowHadamard(api, info, name, weights.k);
    *kernel = new QuantizedMatMulKernel(std::move(weights), isa, 4, name, std::move(hadamard));
    return nullptr;
  } catch (const std::exception& e) {
    return api.CreateStatus(ORT_INVALID_ARGUMENT, e.what());
  }
}

ONNXTensorElementDataType MatMulW8A8Op::GetInputType(size_t index) const {
  return index == 1 || index == 3 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8 : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
}

}  // namespace onnxquant
