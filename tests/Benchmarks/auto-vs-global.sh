#!/usr/bin/env bash
# Issue 13's table: w8a8-auto (per-tensor ranges + equalize + auto-precision + bias-correction) against every single
# global calibration setting (one method/percentile for all tensors) on the shared conv models, evaluation splits.
# Each global setting is a copy of a base recipe (w8a8, and w8a8-equalized: the same graph with equalize and
# bias-correction) whose calibrate line is the setting. Prints one Markdown row per (base, setting) and model.
#   ONNXQUANT=path/to/onnxquant OUT=/tmp/auto tests/Benchmarks/auto-vs-global.sh
# Optional: MODELS="ppocr taef2" BASES="w8a8 w8a8-equalized" SETTINGS="min-max 99.9 99.99 99.999 mse" AUTO=1
set -euo pipefail
cd "$(dirname "$0")/../.."
Q=${ONNXQUANT:-passes/OnnxQuant.Cli/bin/Release/net10.0/linux-x64/onnxquant}
OUT=${OUT:-/tmp/auto-vs-global}
MODELS=${MODELS:-"ppocr taef2"}
BASES=${BASES:-"w8a8 w8a8-equalized"}
SETTINGS=${SETTINGS:-"min-max 99.9 99.99 99.999 mse"}
AUTO=${AUTO:-1}
S=../shared
mkdir -p "$OUT"
IMG=(--image resize-shorter-side=256 --image crop=256)

cell() { awk -F'│' -v k="$1" '$2 ~ k {print $3; exit}' "$2" | xargs; }  # a row of eval's table
calibrate_line() {
  case $1 in
    min-max) echo '  - calibrate: {method: min-max}' ;;
    mse|entropy) echo "  - calibrate: {method: $1}" ;;
    *) echo "  - calibrate: {method: percentile, percentile: $1}" ;;
  esac
}
recipe_for() { # base setting -> recipe file
  local f="$OUT/$1-$2.yaml"
  sed "s|^  - calibrate:.*|$(calibrate_line "$2")|; s|^name: .*|name: $1-$2|" "models/recipes/$1.yaml" > "$f"
  echo "$f"
}
ppocr() { # recipe label
  "$Q" $S/models/ppocr_v4_rec.onnx "$OUT/ppocr.$2.onnx" --recipe "$1" --data $S/data/ocr_words_npy/calib_100.npy > "$OUT/ppocr.$2.log" 2>&1
  "$Q" eval $S/models/ppocr_v4_rec.onnx "$OUT/ppocr.$2.onnx" --task ctc --data $S/data/ocr_words_npy/eval_200.npy \
    --labels $S/data/ocr_words_npy/eval_200_labels.txt --keys $S/models/ppocr_keys_v1.txt > "$OUT/ppocr.$2.eval" 2>&1
  local e="$OUT/ppocr.$2.eval"
  echo "| ppocr | $2 | $(cell quantized "$e") | $(cell agreement "$e") | $(awk -F'│' '/ dB /{print $3; exit}' "$e" | xargs) |"
}
taef2() { # recipe label
  "$Q" $S/models/taef2_encoder.onnx "$OUT/enc.$2.onnx" --recipe "$1" --data $S/data/images --count 32 "${IMG[@]}" > "$OUT/enc.$2.log" 2>&1
  "$Q" $S/models/taef2_decoder.onnx "$OUT/dec.$2.onnx" --recipe "$1" --data $S/data/latents/taef2_latents_calib32.npy > "$OUT/dec.$2.log" 2>&1
  "$Q" eval $S/models/taef2_encoder.onnx "$OUT/enc.$2.onnx" --then $S/models/taef2_decoder.onnx "$OUT/dec.$2.onnx" \
    --task psnr --data $S/data/images --skip 32 "${IMG[@]}" > "$OUT/taef2.$2.eval" 2>&1
  local e="$OUT/taef2.$2.eval"
  echo "| taef2 | $2 | $(cell quantized "$e") | $(cell worst "$e") | |"
}
for m in $MODELS; do
  for b in $BASES; do
    for s in $SETTINGS; do $m "$(recipe_for "$b" "$s")" "$b-$s"; done
  done
  if [ "$AUTO" = 1 ]; then $m w8a8-auto w8a8-auto; fi
done
