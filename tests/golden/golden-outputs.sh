#!/usr/bin/env bash
# Byte-identity guard for refactors: quantizes every shared model with every built-in preset (fixed seed, fixed
# calibration data) and records the SHA-256 of each output. Run `record` on the code before a refactor and `compare`
# after it: any preset whose output changed is listed. The provenance version string is part of the bytes, so keep the
# assembly version unchanged between the two runs (or record again after bumping it on purpose).
#
#   tests/golden/golden-outputs.sh record  [DIR]   # default DIR: ../golden-baseline (outside the repo)
#   tests/golden/golden-outputs.sh compare [DIR]
#   PRESETS="w8a8 w8a8-smooth" MODELS="ppocr_v4_rec.onnx" tests/golden/golden-outputs.sh compare DIR
#                                                    # only those presets / models (a quick check of one change)
#
# Needs ../shared beside the repository. Takes about a minute on 2 cores after `dotnet build`.
set -uo pipefail
cd "$(dirname "$0")/../.."
mode="${1:-}"
dir="${2:-../golden-baseline}"
case "$mode" in record|compare) ;; *) echo "usage: $0 record|compare [DIR]" >&2; exit 1 ;; esac

shared=../shared
dotnet build passes/OnnxQuant.Cli -v q -nologo >/dev/null || { echo "build failed" >&2; exit 1; }
cli=(dotnet passes/OnnxQuant.Cli/bin/Debug/net10.0/linux-x64/onnxquant.dll)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

presets=${PRESETS:-$(for f in models/recipes/*.yaml; do basename "$f" .yaml; done)}

# Generated demo models (our own generators, fixed seeds) join the shared ones.
"${cli[@]}" generate vit-tiny "$work/gen_vit_tiny.onnx" --seed 3 >/dev/null || exit 1
"${cli[@]}" generate llama "$work/gen_llama.onnx" --seed 3 --width 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 --vocab 256 >/dev/null || exit 1

# model | calibration data arguments (a fixed, small slice so the check stays quick)
cases=(
  "vit_mnist.onnx|--data $shared/data/mnist/calib_256.npy --count 32"
  "vit_mnist_b1.onnx|--data $shared/data/mnist/calib_256.npy --count 16"
  "ppocr_v4_rec.onnx|--data $shared/data/ocr_words_npy/calib_100.npy --count 8"
  "taef2_encoder.onnx|--data $shared/data/images --count 4 --image resize-shorter-side=64 --image crop=64"
  "taef2_decoder.onnx|--data $shared/data/latents/taef2_latents_calib32.npy --count 4"
  "stories260k.onnx|--data $shared/data/lm/stories_tokens_64x64.npy --count 8"
  "dit_mnist.onnx|--data random --count 8 --shape x=2,1,28,28 --shape t=2 --shape y=2"
  "silero_vad_legacy.onnx|--data random --count 4 --shape input=1,512 --shape h=2,1,64 --shape c=2,1,64"
  "@gen_vit_tiny.onnx|--data random --count 8 --shape pixel_values=1,3,32,32"
  "@gen_llama.onnx|--data random --count 4 --shape input_ids=1,16"
)

out="$work/sums.txt"
: > "$out"
for c in "${cases[@]}"; do
  model="${c%%|*}"; args="${c#*|}"
  if [ -n "${MODELS:-}" ] && [[ " $MODELS " != *" ${model#@} "* ]]; then continue; fi
  for p in $presets; do
    o="$work/${model%.onnx}.$p.onnx"; o="${o/@/}"
    src="$shared/models/$model"; [ "${model:0:1}" = "@" ] && src="$work/${model:1}"
    # shellcheck disable=SC2086
    if "${cli[@]}" "$src" "$o" --recipe "$p" --seed 7 $args >"$work/log" 2>&1; then
      echo "$model $p $(sha256sum "$o" | cut -d' ' -f1)" >> "$out"
    else
      echo "$model $p exit=$?" >> "$out"
    fi
  done
done

if [ "$mode" = record ]; then
  mkdir -p "$dir"; cp "$out" "$dir/sums.txt"
  echo "recorded $(wc -l < "$out") outputs in $dir/sums.txt"
  exit 0
fi
[ -f "$dir/sums.txt" ] || { echo "no baseline in $dir: run '$0 record' on the old code first" >&2; exit 1; }
# Presets added after the baseline was recorded have nothing to compare with: listed as new, not as changes.
changed=0
# A changed output says whether it was written before and now ("ok") or refused ("exit=N"): a refusal that
# appears or disappears is a behaviour change, not only different bytes.
status() { case "$1" in exit=*) echo "$1" ;; *) echo ok ;; esac; }
while read -r model preset sum; do
  old=$(awk -v m="$model" -v p="$preset" '$1==m && $2==p {print $3}' "$dir/sums.txt")
  if [ -z "$old" ]; then echo "new:       $model $preset"
  elif [ "$old" != "$sum" ]; then echo "changed:   $model $preset ($(status "$old") → $(status "$sum"))"; changed=$((changed+1))
  fi
done < "$out"
if [ "$changed" -eq 0 ]; then echo "identical: every output of this run ($(wc -l < "$out")) equals $dir/sums.txt"; else exit 3; fi
