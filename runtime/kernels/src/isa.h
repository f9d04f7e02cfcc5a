// Which instruction set a kernel runs on: the best this CPU has, or one forced by the op's `isa` attribute or the
// ONNXQUANT_KERNEL_ISA environment variable (so tests can compare every path with the scalar one bit for bit).
#pragma once
#include <string>

namespace onnxquant {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512Vnni = 2 };

const char* IsaName(Isa isa);
bool CpuSupports(Isa isa);
Isa BestIsa();

// Resolves "auto"/"" (best, unless ONNXQUANT_KERNEL_ISA names one), "scalar", "avx2", "avx512vnni". Returns false
// with a message in `error` for an unknown name or a path this CPU lacks.
bool ResolveIsa(const std::string& requested, Isa* isa, std::string* error);

}  // namespace onnxquant
