// Which instruction set a kernel runs on: the best this CPU has, or one forced by the op's `isa` attribute or the
// ONNXQUANT_KERNEL_ISA environment variable (so tests can compare every path with the scalar one bit for bit).
#pragma once
#include <string>

namespace onnxquant {

// AvxVnni: 256-bit registers with the vpdpbusd integer dot product, either VEX-encoded (AVX-VNNI: Intel client cores
// since Alder Lake, Zen 5 — often without AVX-512) or EVEX-encoded (AVX-512 VNNI + VL). Kernels without an integer dot
// product run their AVX2 code on it.
enum class Isa { Scalar = 0, Avx2 = 1, Avx512Vnni = 2, AvxVnni = 3 };

const char* IsaName(Isa isa);
bool CpuSupports(Isa isa);
Isa BestIsa();

// Whether this CPU has the VEX-encoded AVX-VNNI instructions (else the AvxVnni path uses their EVEX form).
bool CpuHasVexAvxVnni();

// Resolves "auto"/"" (best, unless ONNXQUANT_KERNEL_ISA names one), "scalar", "avx2", "avxvnni", "avx512vnni". Returns false
// with a message in `error` for an unknown name or a path this CPU lacks.
bool ResolveIsa(const std::string& requested, Isa* isa, std::string* error);

}  // namespace onnxquant
