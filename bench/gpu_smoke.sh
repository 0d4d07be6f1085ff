#!/usr/bin/env bash
# GPU readiness in one script: a GRPO job through `rubricforge worker` on a random
# model of Qwen2.5-0.5B's shape (bf16) with a locally trained tokenizer, the embedded
# PostgreSQL and the scripted word judge; prints step time, tokens/s and the reward's
# share of step time (target <= 10%). Nothing is downloaded.
#
#   bash bench/gpu_smoke.sh [--wheels DIR] [--cpu-tiny] [--steps N] [--judge-delay S]
#
#   --wheels DIR      install what is missing from DIR only (pip --no-index --find-links)
#   --cpu-tiny        the same path on the CPU with a tiny shape (about a minute)
#   --steps N         optimizer steps (default 8 on a GPU, 3 with --cpu-tiny)
#   --judge-delay S   seconds the judge waits before each reply (default 0)
# PYTHON picks the interpreter (default .venv/bin/python, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS="" CPU_TINY="" STEPS=0 DELAY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --wheels) WHEELS="$2"; shift 2 ;;
        --cpu-tiny) CPU_TINY=1; shift ;;
        --steps) STEPS="$2"; shift 2 ;;
        --judge-delay) DELAY="$2"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

if ! "$PYTHON" -c "import rubricforge.trainer.run, peft, aiohttp, pytest" 2>/dev/null; then
    if [ -z "$WHEELS" ]; then
        echo "rubricforge[trainer] (with peft, aiohttp, pytest) is not installed: pass --wheels DIR" >&2
        exit 2
    fi
    echo "== installing what is missing from $WHEELS"
    # The editable install builds without isolation, so setuptools must come first.
    "$PYTHON" -c "import setuptools" 2>/dev/null ||
        "$PYTHON" -m pip install -q --no-index --find-links "$WHEELS" "setuptools>=69"
    "$PYTHON" -m pip install -q --no-index --find-links "$WHEELS" --no-build-isolation \
        -e ".[trainer]" pytest
fi

WORK="$(mktemp -d -t rf-gpu-smoke.XXXXXX)"
export RUBRICFORGE_HOME="$WORK/home" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
unset DATABASE_URL
JUDGE_PID=""
cleanup() {
    [ -n "$JUDGE_PID" ] && kill "$JUDGE_PID" 2>/dev/null || true
    "$PYTHON" -m rubricforge.cli db stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$PYTHON" -c "import torch; print('device:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu', '| torch', torch.__version__)"
if [ -z "$CPU_TINY" ] && ! "$PYTHON" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "no GPU visible to torch: use --cpu-tiny for the CPU run" >&2
    exit 2
fi

"$PYTHON" tests/rubric_judge.py --delay "$DELAY" >"$WORK/judge.url" 2>"$WORK/judge.log" &
JUDGE_PID=$!
for _ in $(seq 100); do [ -s "$WORK/judge.url" ] && break; sleep 0.1; done
JUDGE_URL="$(head -n1 "$WORK/judge.url")"
[ -n "$JUDGE_URL" ] || { echo "the scripted judge did not start:" >&2; cat "$WORK/judge.log" >&2; exit 1; }
echo "judge: $JUDGE_URL (delay ${DELAY} s)"

ARGS=(--judge-url "$JUDGE_URL" --work "$WORK/run" --steps "$STEPS")
[ -n "$CPU_TINY" ] && ARGS+=(--cpu-tiny)
"$PYTHON" bench/gpu_smoke.py "${ARGS[@]}"
