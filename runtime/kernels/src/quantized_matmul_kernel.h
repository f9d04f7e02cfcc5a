// What MatMulW4A8 and MatMulW8A8 share once their weights are packed: per-token activation quantization, the GEMM
// on the chosen instruction set, ORT's intra-op thread pool (rows while quantizing, column tiles while multiplying).
#pragma once
#include <string>
#include <vector>

#include "isa.h"
#include "onnxruntime_cxx_api.h"
#include "packed_weights.h"

namespace onnxquant {

// An online Hadamard transform applied to each row of A before it is quantized (fuse-custom-ops folds a
// HadamardTransform whose only reader is this op into it): the row is transformed into a per-thread buffer and
// quantized from there, one pass over A instead of a transform written out and read back. Same arithmetic as the
// HadamardTransform op (HadamardTransformRow), so the fused and unfused graphs agree bit for bit.
struct RowHadamard {
  bool enabled = false;
  int64_t k = 1;              // H_K's order (1: a plain fast Walsh–Hadamard transform)
  std::vector<int8_t> base;   // H_K row-major, empty when k = 1
  bool normalized = true;
};

// Reads the optional attributes hadamard (0/1), hadamard_base (K·K ints of ±1) and hadamard_normalized (default 1);
// throws naming the node when they are inconsistent with K (the row length must be K·2^m).
RowHadamard ReadRowHadamard(const OrtApi& api, const OrtKernelInfo* info, const std::string& node, int64_t row_length);

class QuantizedMatMulKernel {
 public:
  // `bias_input`: the index of the optional bias input.
  QuantizedMatMulKernel(PackedWeights weights, Isa isa, size_t bias_input, std::string node, RowHadamard hadamard = {})
      : w_(std::move(weights)), isa_(isa), bias_input_(bias_input), node_(std::move(node)), hadamard_(std::move(hadamard)) {}
  OrtStatusPtr ComputeV2(OrtKernelContext* context);

 private:
  void Compute(Ort::KernelContext& context);
  PackedWeights w_;
  Isa isa_;
  size_t bias_input_;
  std::string node_;
  RowHadamard hadamard_;
};

// Reads an optional string attribute ("" when absent).
std::string OptionalStringAttribute(const OrtApi& api, const OrtKernelInfo* info, const char* name);
// The constant tensor behind input `index`, or throws naming the op and node.
Ort::ConstValue ConstantInput(const Ort::ConstKernelInfo& info, size_t index, const char* op, const char* what);
// Resolves the instruction set for a node (isa attribute, then ONNXQUANT_KERNEL_ISA, then the best), or throws.
Isa ResolveNodeIsa(const OrtApi& api, const OrtKernelInfo* info, const std::string& op, const std::string& node);

}  // namespace onnxquant
