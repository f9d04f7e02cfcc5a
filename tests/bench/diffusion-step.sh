#!/usr/bin/env bash
# Issue 15's speed figures on dit_mnist, as interleaved per-run ratios (docs/diffusion.md, "Speed").
#   tests/bench/diffusion-step.sh [WORKDIR]        (env: REPS=3 RUNS=100 WARMUP=10 THREADS="1 2" CLI=...)
# Builds the presets once into WORKDIR (default /tmp/onnxquant-diffusion-bench; reused when present), then for each
# thread count and repetition runs `bench A B` (A and B alternate round by round) at the sampler's call shape: the
# shared sampler's classifier-free guidance feeds the conditional and unconditional halves together, so a call of
# `eval`/`sample`'s default batch of 8 samples holds 16 rows (x=16,1,28,28). Prints one line per bench: B/A per-run
# ratio (median over rounds of B's time / A's in the same round; below 1 = B faster), the ratio of medians, both
# medians in ms, and the load average; then the median of the per-run ratios over the repetitions. Finally the whole
# sampler (50 steps, 16 samples) of float and each quantized preset, interleaved, as CPU seconds (user+sys).
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${SHARED:-../shared}
work=${1:-/tmp/onnxquant-diffusion-bench}
reps=${REPS:-3}; runs=${RUNS:-100}; warmup=${WARMUP:-10}; threads_list=${THREADS:-"1 2"}
S=$shared/models/dit_mnist_sampler.json
if [ -z "${CLI:-}" ]; then
  dotnet build passes/OnnxQuant.Cli -c Release -v q -nologo >/dev/null || { echo "build failed" >&2; exit 1; }
  CLI="dotnet passes/OnnxQuant.Cli/bin/Release/net10.0/linux-x64/onnxquant.dll"
fi
read -r -a cli <<< "$CLI"
mkdir -p "$work"
float=$shared/models/dit_mnist.onnx
build() { # preset [data args...]
  local p=$1; shift
  [ -f "$work/dit.$p.onnx" ] || "${cli[@]}" "$float" "$work/dit.$p.onnx" --recipe "$p" "$@" >/dev/null
}
build w8a8-dynamic
build w8a8-diffusion
build w8a8-diffusion-fast
build w4a8-diffusion --data "sampler:$S" --count 16 --seed 0
build w4a8-diffusion-fast --data "sampler:$S" --count 16 --seed 0
build w8a8-diffusion-auto --data "sampler:$S" --seed 0
# The smooth-quant balancing Muls (docs/diffusion.md): one static range per tensor, without and with smoothing.
static1="$work/static1.yaml"; sstatic1="$work/s-static1.yaml"
head -n 15 models/recipes/w8a8-diffusion.yaml | sed 's/^name: .*/name: static1/' > "$static1"
echo '  - insert-timestep-qdq: {timestep-input: t, groups: 1, num-train-timesteps: 1000, exclude-conditioning-path: true, exclude-output-layers: true}' >> "$static1"
head -n 15 models/recipes/w8a8-diffusion.yaml | sed 's/^name: .*/name: s-static1/' > "$sstatic1"
echo '  - smooth-quant: {alpha: "0.5", conv: false}' >> "$sstatic1"
tail -n 1 "$static1" >> "$sstatic1"
[ -f "$work/dit.static1.onnx" ] || "${cli[@]}" "$float" "$work/dit.static1.onnx" --recipe "$static1" --data "sampler:$S" --count 16 --seed 0 >/dev/null
[ -f "$work/dit.s-static1.onnx" ] || "${cli[@]}" "$float" "$work/dit.s-static1.onnx" --recipe "$sstatic1" --data "sampler:$S" --count 16 --seed 0 >/dev/null

pairs=(
  "w8a8-dynamic w8a8-diffusion"
  "float w8a8-diffusion"
  "float w8a8-dynamic"
  "w8a8-dynamic w8a8-diffusion-auto"
  "float w8a8-diffusion-auto"
  "w8a8-dynamic w8a8-diffusion-fast"
  "float w4a8-diffusion"
  "float w4a8-diffusion-fast"
  "static1 s-static1"
)
path() { if [ "$1" = float ]; then echo "$float"; else echo "$work/dit.$1.onnx"; fi; }
results="$work/ratios.tsv"; : > "$results"
printf '%-36s %3s %3s %9s %9s %9s %9s  %s\n' "B vs A" thr rep "per-run" "of-medians" "A ms" "B ms" "load"
for threads in $threads_list; do
  for rep in $(seq 1 "$reps"); do
    for pair in "${pairs[@]}"; do
      read -r a b <<< "$pair"
      json=$("${cli[@]}" bench "$(path "$a")" "$(path "$b")" --threads "$threads" --runs "$runs" --warmup "$warmup" \
        --shape x=16,1,28,28 --shape t=16 --shape y=16 --json)
      line=$(jq -r '[.comparison.latencyRatio, .comparison.latencyRatioOfMedians, .models[0].latency.medianMs, .models[1].latency.medianMs] | map(. * 1000 | round / 1000) | @tsv' <<< "$json")
      read -r ratio ofmed ams bms <<< "$line"
      load=$(cut -d' ' -f1-3 /proc/loadavg)
      printf '%-36s %3s %3s %9s %9s %9s %9s  %s\n' "$b vs $a" "$threads" "$rep" "$ratio" "$ofmed" "$ams" "$bms" "$load"
      printf '%s\t%s\t%s\n' "$b vs $a" "$threads" "$ratio" >> "$results"
    done
  done
done
echo
echo "median of the per-run ratios over $reps repetitions:"
python3 - "$results" <<'PY'
import sys, statistics, collections
groups = collections.OrderedDict()
for line in open(sys.argv[1]):
    pair, threads, ratio = line.rstrip("\n").split("\t")
    groups.setdefault((pair, threads), []).append(float(ratio))
for (pair, threads), r in groups.items():
    print(f"  {pair:36s} {threads} thread(s): {statistics.median(r):.3f}  ({', '.join(f'{x:.3f}' for x in r)})")
PY

echo
echo "whole sampler, 16 samples x 50 steps, 1 thread, CPU seconds (user+sys), interleaved, ${reps} repetitions:"
for rep in $(seq 1 "$reps"); do
  for m in float w8a8-dynamic w8a8-diffusion w8a8-diffusion-auto w4a8-diffusion-fast; do
    /usr/bin/time -f "%U %S" -o "$work/time" "${cli[@]}" sample "$(path "$m")" --sampler "$S" --count 16 --seed 1000 --threads 1 --out "$work/samples.npy" >/dev/null
    printf '  rep %s %-22s %6.2f s  load %s\n' "$rep" "$m" "$(awk '{print $1+$2}' "$work/time")" "$(cut -d' ' -f1 /proc/loadavg)"
  done
done
