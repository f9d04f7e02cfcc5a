// HadamardTransform's arithmetic on one row, free of ONNX Runtime: the op (hadamard_transform.cc) runs it per row on
// ORT's thread pool and the CUDA harness uses it as the reference the GPU kernel must match bit for bit.
#pragma once
#include <cstdint>

namespace onnxquant {

// y = s · (H_K ⊗ H_{2^m}) · x, d = K·2^m: butterflies (a + b, a − b, stage by stage with half = 1, 2, 4, …) on each
// of the K segments, then for each output segment i the signed segment sums from 0 in order j = 0..K−1 (base: H_K
// row-major, nullptr when K = 1), then · s with s = HadamardScale(d) when normalized.
void HadamardTransformRow(const float* x, float* y, int64_t d, int64_t k, const int8_t* base, bool normalized);

// True when d = k·2^m (m ≥ 0, k ≥ 1): the row lengths HadamardTransformRow takes.
bool IsHadamardOrder(int64_t d, int64_t k);

// fl32(1/√d), computed in double.
float HadamardScale(int64_t d);

}  // namespace onnxquant
