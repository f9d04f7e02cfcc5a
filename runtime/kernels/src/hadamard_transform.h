#pragma once
#include <cstdint>
#include <vector>

#include "onnxruntime_cxx_api.h"

namespace onnxquant {

class HadamardTransformKernel {
 public:
  HadamardTransformKernel(std::vector<int8_t> base, int64_t base_order, bool normalized, std::string node)
      : base_(std::move(base)), k_(base_order), normalized_(normalized), node_(std::move(node)) {}
  OrtStatusPtr ComputeV2(OrtKernelContext* context);

 private:
  std::vector<int8_t> base_;  // H_K row-major (K = 1: empty)
  int64_t k_;
  bool normalized_;
  std::string node_;
};

struct HadamardTransformOp : Ort::CustomOpBase<HadamardTransformOp, HadamardTransformKernel, true> {
  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const;
  const char* GetName() const { return "HadamardTransform"; }
  const char* GetExecutionProviderType() const { return "CPUExecutionProvider"; }
  size_t GetInputTypeCount() const { return 2; }
  ONNXTensorElementDataType GetInputType(size_t index) const {
    return index == 0 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT : ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8;
  }
  OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(size_t index) const {
    return index == 1 ? INPUT_OUTPUT_OPTIONAL : INPUT_OUTPUT_REQUIRED;
  }
  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }
};

}  // namespace onnxquant
