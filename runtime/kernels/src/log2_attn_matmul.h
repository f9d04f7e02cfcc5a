#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "isa.h"
#include "onnxruntime_cxx_api.h"

namespace onnxquant {

// The per-path pieces of Log2AttnMatMul (log2_attn_paths.cc). All are exact integer work, so every path gives the
// same bits by construction; tests compare them anyway.
// codes[j] = #{k < levels : a[j] <= thresholds[k]}  (levels = 2^b; the code `levels` means "zero").
void Log2Codes(Isa isa, const float* a, int64_t count, const float* thresholds, int levels, uint16_t* codes);
// acc[q][0..n) = Σ v[j][0..n) over the j < t whose code is q < levels (acc is [levels][n], v is [t][n]); used[q]
// (cleared by the caller) says which codes occurred: the accumulators of the others are left as they were.
void Log2Accumulate(Isa isa, const uint16_t* codes, int64_t t, const int32_t* v, int64_t n, int levels, int32_t* acc,
                    uint8_t* used);

class Log2AttnMatMulKernel {
 public:
  Log2AttnMatMulKernel(std::vector<float> thresholds, float a_scale, float v_scale, int32_t v_zero, Isa isa, std::string node)
      : thresholds_(std::move(thresholds)), a_scale_(a_scale), v_scale_(v_scale), v_zero_(v_zero), isa_(isa),
        node_(std::move(node)) {}
  OrtStatusPtr ComputeV2(OrtKernelContext* context);

 private:
  void Compute(Ort::KernelContext& context);
  std::vector<float> thresholds_;
  float a_scale_, v_scale_;
  int32_t v_zero_;
  Isa isa_;
  std::string node_;
};

struct Log2AttnMatMulOp : Ort::CustomOpBase<Log2AttnMatMulOp, Log2AttnMatMulKernel, true> {
  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const;
  const char* GetName() const { return "Log2AttnMatMul"; }
  const char* GetExecutionProviderType() const { return "CPUExecutionProvider"; }
  size_t GetInputTypeCount() const { return 5; }
  // V and v_zero_point: uint8 or int8 (checked when the kernel is created and at run time).
  ONNXTensorElementDataType GetInputType(size_t index) const {
    return index == 2 || index == 4 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  }
  OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(size_t index) const {
    return index == 4 ? INPUT_OUTPUT_OPTIONAL : INPUT_OUTPUT_REQUIRED;
  }
  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }
};

}  // namespace onnxquant
