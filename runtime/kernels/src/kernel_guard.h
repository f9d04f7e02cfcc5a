// What every com.onnxquant kernel does around its own arithmetic, in one place.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "onnxruntime_cxx_api.h"

namespace onnxquant {

// Runs a kernel's body and turns any exception into an ORT status that names the node: exceptions must not cross ORT's
// C API, and a bad input should fail the session run with a readable message rather than end the process.
template <typename Body>
OrtStatusPtr GuardedCompute(const std::string& node, Body&& body) {
  try {
    body();
    return nullptr;
  } catch (const std::exception& e) {
    return Ort::GetApi().CreateStatus(ORT_FAIL, (node + ": " + e.what()).c_str());
  }
}

// The number of rows of input A [..., K]: the product of every axis but the last, which must be K.
inline int64_t RowsEndingInK(const std::vector<int64_t>& shape, int64_t k) {
  if (shape.empty() || shape.back() != k) throw std::runtime_error("input A must end in K = " + std::to_string(k) + " elements");
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < shape.size(); i++) rows *= shape[i];
  return rows;
}

// The optional bias input at `index` as N floats, or nullptr when the node has none.
inline const float* OptionalBias(Ort::KernelContext& ctx, size_t index, int64_t n) {
  if (ctx.GetInputCount() <= index) return nullptr;
  Ort::ConstValue b = ctx.GetInput(index);
  if (static_cast<const OrtValue*>(b) == nullptr) return nullptr;
  if (b.GetTensorTypeAndShapeInfo().GetElementCount() != static_cast<size_t>(n))
    throw std::runtime_error("bias must have N = " + std::to_string(n) + " elements");
  return b.GetTensorData<float>();
}

}  // namespace onnxquant
