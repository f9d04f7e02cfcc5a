// What MatMulW4A8 and MatMulW8A8 share once their weights are packed: per-token activation quantization, the GEMM
// on the chosen instruction set, ORT's intra-op thread pool (rows while quantizing, column tiles while multiplying).
#pragma once
#include <string>

#include "isa.h"
#include "onnxruntime_cxx_api.h"
#include "packed_weights.h"

namespace onnxquant {

class QuantizedMatMulKernel {
 public:
  // `bias_input`: the index of the optional bias input.
  QuantizedMatMulKernel(PackedWeights weights, Isa isa, size_t bias_input, std::string node)
      : w_(std::move(weights)), isa_(isa), bias_input_(bias_input), node_(std::move(node)) {}
  OrtStatusPtr ComputeV2(OrtKernelContext* context);

 private:
  void Compute(Ort::KernelContext& context);
  PackedWeights w_;
  Isa isa_;
  size_t bias_input_;
  std::string node_;
};

// Reads an optional string attribute ("" when absent).
std::string OptionalStringAttribute(const OrtApi& api, const OrtKernelInfo* info, const char* name);
// The constant tensor behind input `index`, or throws naming the op and node.
Ort::ConstValue ConstantInput(const Ort::ConstKernelInfo& info, size_t index, const char* op, const char* what);
// Resolves the instruction set for a node (isa attribute, then ONNXQUANT_KERNEL_ISA, then the best), or throws.
Isa ResolveNodeIsa(const OrtApi& api, const OrtKernelInfo* info, const std::string& op, const std::string& node);

}  // namespace onnxquant
