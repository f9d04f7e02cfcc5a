#pragma once
#include <string>

#include "bcq_weights.h"
#include "isa.h"
#include "onnxruntime_cxx_api.h"

namespace onnxquant {

class BcqMatMulKernel {
 public:
  BcqMatMulKernel(BcqWeights weights, Isa isa, std::string node)
      : w_(std::move(weights)), isa_(isa), node_(std::move(node)) {}
  OrtStatusPtr ComputeV2(OrtKernelContext* context);

 private:
  void Compute(Ort::KernelContext& context);
  BcqWeights w_;
  Isa isa_;
  std::string node_;
};

struct BcqMatMulOp : Ort::CustomOpBase<BcqMatMulOp, BcqMatMulKernel, true> {
  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const;
  const char* GetName() const { return "BcqMatMul"; }
  const char* GetExecutionProviderType() const { return "CPUExecutionProvider"; }
  size_t GetInputTypeCount() const { return 5; }
  ONNXTensorElementDataType GetInputType(size_t index) const {
    return index == 1 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8 : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  }
  OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(size_t index) const {
    return index >= 3 ? INPUT_OUTPUT_OPTIONAL : INPUT_OUTPUT_REQUIRED;
  }
  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }
};

}  // namespace onnxquant
