#!/usr/bin/env bash
# Builds the standalone CUDA harness with one nvcc command line and runs it (no ONNX Runtime, no .NET, no network).
#   runtime/kernels/cuda/run-harness.sh [--build-only] [--out DIR] [harness arguments: --quick --rounds R --reps N]
# Environment: NVCC (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc), CUDA_ARCH (e.g. sm_90; default: the
# GPU present, else sm_80 and sm_90), CCBIN (host compiler; default: the first nvcc accepts of the default,
# clang++-14, clang++, g++-12 … g++-9).
# Exit status: the harness's (0 all kernels match the CPU scalar path, 1 a mismatch, 2 no GPU or a CUDA error); 3 when
# nvcc or a host compiler it accepts is missing, 4 when the build fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../src"
out="$here/build"
build_only=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=1 ;;
    --out) out="$2"; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done

nvcc="${NVCC:-}"
if [ -z "$nvcc" ]; then
  if command -v nvcc >/dev/null 2>&1; then nvcc=nvcc
  elif [ -x /usr/local/cuda/bin/nvcc ]; then nvcc=/usr/local/cuda/bin/nvcc
  else echo "run-harness.sh: nvcc not found (install the CUDA toolkit or set NVCC=/path/to/nvcc)" >&2; exit 3; fi
fi
mkdir -p "$out"
probe="$out/probe.cu"
printf '#include <cstdint>\n__global__ void k(int* p) { p[0] = __dp4a(p[1], p[2], p[3]); }\nint main() { return 0; }\n' > "$probe"

# Target architecture: the GPU present (nvcc 11.6+ understands -arch=native), else Ampere and Hopper.
if [ -n "${CUDA_ARCH:-}" ]; then arch=(-arch="$CUDA_ARCH")
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 &&
     "$nvcc" -arch=native -c "$probe" -o "$out/probe.o" >/dev/null 2>&1; then arch=(-arch=native)
else
  arch=(-gencode arch=compute_80,code=sm_80)
  if "$nvcc" --list-gpu-arch 2>/dev/null | grep -q compute_90; then arch+=(-gencode arch=compute_90,code=sm_90); fi
fi

# Host compiler: nvcc refuses host compilers newer than its release supports (CUDA 11.8: g++ <= 11).
ccbin=()
if [ -n "${CCBIN:-}" ]; then ccbin=(-ccbin "$CCBIN")
else
  found=0
  for candidate in "" clang++-14 clang++ g++-12 g++-11 g++-10 g++-9; do
    if [ -n "$candidate" ] && ! command -v "$candidate" >/dev/null 2>&1; then continue; fi
    try=(); [ -n "$candidate" ] && try=(-ccbin "$candidate")
    if "$nvcc" ${try[@]+"${try[@]}"} -std=c++17 "${arch[@]}" -c "$probe" -o "$out/probe.o" >/dev/null 2>&1; then
      ccbin=(${try[@]+"${try[@]}"}); found=1; break
    fi
  done
  if [ "$found" = 0 ]; then echo "run-harness.sh: nvcc accepts none of the host compilers tried (set CCBIN=...)" >&2; exit 3; fi
fi
echo "run-harness.sh: $("$nvcc" --version | tail -1); host compiler: ${ccbin[1]:-default}; ${arch[*]}" >&2

# --fmad=false and -ffp-contract=off: no compiler-made fused multiply-adds on either side (the kernels' own fmaf calls
# are the only ones, as in the CPU library).
if ! "$nvcc" ${ccbin[@]+"${ccbin[@]}"} -std=c++17 -O2 --fmad=false "${arch[@]}" -Xcompiler -ffp-contract=off,-Wall,-Wextra \
    -o "$out/onnxquant_cuda_harness" \
    "$here/harness.cu" "$here/quantized_matmul.cu" "$here/hadamard_transform.cu" "$here/log2_attn_matmul.cu" \
    "$here/bcq_matmul.cu" "$here/harness_reference.cc" "$here/gpu_layouts.cc" \
    "$src/packed_weights.cc" "$src/quantize_activations.cc" "$src/gemm_scalar.cc" "$src/hadamard_rows.cc" \
    "$src/log2_attn_rows.cc" "$src/log2_attn_paths.cc" "$src/bcq_pack.cc" "$src/bcq_scalar.cc" \
    -lcublas; then
  echo "run-harness.sh: build failed" >&2; exit 4
fi
echo "run-harness.sh: built $out/onnxquant_cuda_harness" >&2
[ "$build_only" = 1 ] && exit 0
exec "$out/onnxquant_cuda_harness" ${args[@]+"${args[@]}"}
