#!/usr/bin/env bash
# The GPU path, proven on a machine with an NVIDIA GPU (run from the repository root):
#   1. the GPU extra (pyproject's gpu = [...]) installed from wheels carried along (WHEELS=dir, default ./wheels),
#      else the TensorFlow installed ($PYTHON, default .venv/bin/python or python3); cnnviz runs from this checkout;
#   2. TensorFlow sees the GPU with memory growth on (cnnviz's runtime turns it on);
#   3. the side-by-side table (python benchmarks/run.py --peers; peers where CNNVIZ_PEERS_PYTHON is set);
#   4. VGG16-sized jobs: LIME-1000 at 224, top-9 over a folder of JPEGs, a fine-tuning epoch (benchmarks/gpu_jobs.py);
#   5. the app offscreen, reporting its device in the status bar (tests/gui/cold_start.py).
# Its figures go to $OUT/gpu_check.md (OUT defaults to /tmp/cnnviz-gpu-check-out), its logs beside it.
# Sized to finish in under 8 minutes on one GPU: the steps' time limits add up to 8 minutes; a failed step
# is reported and does not stop the others (the exit status is that of the worst step).
#
#   bash benchmarks/gpu_check.sh              # on the GPU machine
#   bash benchmarks/gpu_check.sh --dry-run    # print the steps only
#   bash benchmarks/gpu_check.sh --cpu-smoke  # the same steps at tiny sizes, without a GPU (checks the script)
set -u
cd "$(dirname "$0")/.."

MODE=gpu
case "${1:-}" in
  --dry-run) MODE=dry ;;
  --cpu-smoke) MODE=smoke ;;
  "") ;;
  *) echo "usage: bash benchmarks/gpu_check.sh [--dry-run | --cpu-smoke]" >&2; exit 2 ;;
esac

OUT="${OUT:-${TMPDIR:-/tmp}/cnnviz-gpu-check-out}"
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
WHEELS="${WHEELS:-$PWD/wheels}"
REPORT="$OUT/gpu_check.md"
export PYTHONPATH="$PWD:$PWD/gui${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL=2 QT_QPA_PLATFORM=offscreen MPLBACKEND=Agg
export CNNVIZ_BENCH_DIR="${CNNVIZ_BENCH_DIR:-${TMPDIR:-/tmp}/cnnviz-gpu-check}"

if [ "$MODE" = smoke ]; then
  JOBS_ARGS=(--allow-cpu --model cifar10_cnn --samples 100 --images 40 --batch 8)
  TABLE_ARGS=(saliency gradcam --repeats 1 --max-other-cores 99)
else
  JOBS_ARGS=(--samples 1000 --images 1000 --batch 32)
  TABLE_ARGS=(--repeats 5)
fi

WORST=0
step() {            # step NAME SECONDS COMMAND...: run it with a time limit, log it, note the result
  local name="$1" limit="$2"; shift 2
  if [ "$MODE" = dry ]; then echo "[$name, at most ${limit} s] $*"; return; fi
  local start=$SECONDS
  echo "== $name: $*" | tee -a "$OUT/gpu_check.log"
  timeout --kill-after=10 "$limit" "$@" >>"$OUT/gpu_check.log" 2>&1
  local rc=$?
  local verdict="ok"
  [ $rc -eq 124 ] && verdict="timed out after ${limit} s"
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && verdict="failed (exit $rc), see gpu_check.log"
  [ $rc -ne 0 ] && WORST=1
  echo "- $name: $verdict, $((SECONDS - start)) s" >>"$REPORT.steps"
  echo "   $verdict ($((SECONDS - start)) s)"
}

if [ "$MODE" != dry ]; then
  mkdir -p "$OUT" && : >"$REPORT" && : >"$REPORT.steps" && : >"$OUT/gpu_check.log"
  {
    echo "# cnnviz GPU check ($MODE), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)."
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
      | sed 's/^/GPU: /'
    echo
  } >>"$REPORT"
fi

# 1. The GPU extra, from carried wheels when there are some; otherwise what is installed.
if [ "$MODE" != smoke ]; then
  if [ -d "$WHEELS" ] || [ "$MODE" = dry ]; then
    step "install the GPU extra from $WHEELS" 75 "$PYTHON" -m pip install --no-index --find-links "$WHEELS" \
      "$(sed -n 's/^gpu = \["\(.*\)"\]$/\1/p' pyproject.toml)"
  else
    echo "- install: no wheels at $WHEELS, using the installed TensorFlow" >>"$REPORT.steps"
  fi
fi

# 2. TensorFlow sees the GPU, memory growth on.
step "device" 30 "$PYTHON" benchmarks/gpu_jobs.py device $([ "$MODE" = smoke ] && echo --allow-cpu) --out "$REPORT"

# 3. The side-by-side table (README is not rewritten here: only $OUT comes back).
step "side-by-side table" 180 sh -c "\"$PYTHON\" benchmarks/run.py --peers --no-readme ${TABLE_ARGS[*]} >\"$OUT/side_by_side.md\""

# 4. VGG16-sized jobs.
step "VGG16 jobs: LIME, top-9 over a folder, fine-tuning epoch" 150 \
  "$PYTHON" benchmarks/gpu_jobs.py lime top9 finetune "${JOBS_ARGS[@]}" --out "$REPORT"

# 5. The app offscreen, its status bar's device label.
APP_HOME="$(mktemp -d)"          # a fresh home: no settings, no Keras cache (and nothing of it in $OUT)
step "app offscreen" 45 sh -c "HOME=\"$APP_HOME\" \"$PYTHON\" tests/gui/cold_start.py cifar10_cnn skimage:coffee \
  | tail -1 >\"$OUT/app.json\""
rm -rf "$APP_HOME"
[ "$MODE" = dry ] || "$PYTHON" - "$OUT/app.json" "$MODE" >>"$REPORT.steps" 2>&1 <<'CHECK' || WORST=1
import json, sys
try:
    device = json.load(open(sys.argv[1])).get("device", "no report")
except (OSError, ValueError):
    device = "no report"
wanted = "Device: GPU" if sys.argv[2] == "gpu" else "Device: "
print(f"- the app's status bar says {device!r}: " + ("ok" if device.startswith(wanted) else f"not {wanted}..."))
sys.exit(0 if device.startswith(wanted) else 1)
CHECK

if [ "$MODE" != dry ]; then
  {
    echo "## Side by side"; echo; sed -n '/^### /,$p' "$OUT/side_by_side.md" 2>/dev/null; echo
    echo "## The app offscreen"; echo; echo '```'; cat "$OUT/app.json" 2>/dev/null; echo '```'; echo
    echo "## Steps"; echo; cat "$REPORT.steps"
  } >>"$REPORT"
  rm -f "$REPORT.steps"
  echo "figures: $REPORT"
fi
exit $WORST
