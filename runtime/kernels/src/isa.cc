#include "isa.h"

#include <cstdlib>

namespace onnxquant {

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::Avx512Vnni: return "avx512vnni";
    case Isa::AvxVnni: return "avxvnni";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

bool CpuSupports(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::Avx512Vnni:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("fma");
    case Isa::AvxVnni:
      return CpuSupports(Isa::Avx2) &&
             (CpuHasVexAvxVnni() || (__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")));
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
#else
  return isa == Isa::Scalar;
#endif
}

bool CpuHasVexAvxVnni() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avxvnni");
#else
  return false;
#endif
}

Isa BestIsa() {
  if (CpuSupports(Isa::Avx512Vnni)) return Isa::Avx512Vnni;
  if (CpuSupports(Isa::AvxVnni)) return Isa::AvxVnni;
  if (CpuSupports(Isa::Avx2)) return Isa::Avx2;
  return Isa::Scalar;
}

bool ResolveIsa(const std::string& requested, Isa* isa, std::string* error) {
  std::string name = requested;
  if (name.empty() || name == "auto") {
    const char* env = std::getenv("ONNXQUANT_KERNEL_ISA");
    name = env != nullptr && *env != '\0' ? env : "auto";
  }
  if (name == "auto") {
    *isa = BestIsa();
    return true;
  }
  Isa wanted;
  if (name == "scalar") wanted = Isa::Scalar;
  else if (name == "avx2") wanted = Isa::Avx2;
  else if (name == "avxvnni") wanted = Isa::AvxVnni;
  else if (name == "avx512vnni") wanted = Isa::Avx512Vnni;
  else {
    *error = "unknown kernel path '" + name + "' (isa attribute or ONNXQUANT_KERNEL_ISA); use auto, scalar, avx2, avxvnni or avx512vnni";
    return false;
  }
  if (!CpuSupports(wanted)) {
    *error = std::string("kernel path '") + name + "' was forced but this CPU lacks it; use auto or scalar";
    return false;
  }
  *isa = wanted;
  return true;
}

}  // namespace onnxquant
