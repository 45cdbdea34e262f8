#!/usr/bin/env bash
# The GPU kit (docs/benchmarks.md, "GPU kit"): every GPU measurement in one command.
#
#   make gpu-wheels                  # here, with a registry: .gpu-wheels/ (carry it along)
#   bash benchmarks/gpu.sh           # on the GPU machine: results in $OUT or benchmarks/results/gpu/
#   bash benchmarks/gpu.sh --cpu-smoke [--out DIR]   # tiny sizes on the CPU: the plumbing only
#
# Installs the wheels the machine lacks (only those: its torch stack stays untouched) into
# a temporary folder, puts it and the repository on PYTHONPATH (the package itself is not
# pip-installed), refuses to start without a CUDA device, then runs benchmarks/gpu_kit.py.
# Other arguments (--budget-s, --only STEP...) are passed on to it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SMOKE=()
OUT_DIR=""
PASS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu-smoke) SMOKE=(--cpu-smoke) ;;
        --out) OUT_DIR=$2; shift ;;
        --out=*) OUT_DIR=${1#--out=} ;;
        *) PASS+=("$1") ;;
    esac
    shift
done
if [ -z "$OUT_DIR" ]; then
    if [ -n "${OUT:-}" ]; then OUT_DIR=$OUT
    elif [ ${#SMOKE[@]} -gt 0 ]; then OUT_DIR=benchmarks/results/gpu-smoke
    else OUT_DIR=benchmarks/results/gpu
    fi
fi
: "${MALLOC_MMAP_THRESHOLD_:=68719476736}" "${MALLOC_TRIM_THRESHOLD_:=68719476736}"
: "${OMP_WAIT_POLICY:=PASSIVE}"
export MALLOC_MMAP_THRESHOLD_ MALLOC_TRIM_THRESHOLD_ OMP_WAIT_POLICY

SITE=$(mktemp -d "${TMPDIR:-/tmp}/an_lightning_gpu_site.XXXXXX")
trap 'rm -rf "$SITE"' EXIT
if [ -f .gpu-wheels/requirements.txt ]; then
    "$PY" -m benchmarks.gpu_wheels install .gpu-wheels "$SITE"
else
    echo "gpu.sh: no .gpu-wheels/ (run \`make gpu-wheels\` where a registry is reachable and" \
         "carry .gpu-wheels along); using the installed packages only" >&2
fi
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"

if [ ${#SMOKE[@]} -eq 0 ] && ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "gpu.sh: torch sees no CUDA device ($("$PY" -c 'import torch; print("torch", torch.__version__)' 2>&1)):" \
         "run it on the lent GPU machine, or pass --cpu-smoke for the CPU plumbing check" >&2
    exit 2
fi
if ! err=$("$PY" -c 'import jsonargparse, webdataset, kornia, an_lightning.fit, benchmarks.data_speed' 2>&1); then
    echo "gpu.sh: the project does not import here: ${err##*$'\n'}; run \`make gpu-wheels\`" \
         "on a machine with a registry and carry .gpu-wheels to this one" >&2
    exit 2
fi
exec "$PY" -m benchmarks.gpu_kit --out "$OUT_DIR" "${SMOKE[@]}" "${PASS[@]}"
