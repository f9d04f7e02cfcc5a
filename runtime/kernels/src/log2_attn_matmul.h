#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "isa.h"
#include "log2_attn_rows.h"
#include "onnxruntime_cxx_api.h"

namespace onnxquant {

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
