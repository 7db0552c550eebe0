#!/usr/bin/env bash
# Starts a real vLLM (CPU) on loopback with the tiny random-weight model, waits until it answers
# /health, and prints "PID URL". PID leads its own process group (vLLM's engine and worker are
# children): stop everything with  kill -- -PID
# Usage: run-vllm.sh [PORT] [extra vLLM args...]
#   env VENV (default $HOME/.cache/llm-exporter/vllm-venv), MODEL (default: made beside VENV),
#       LOG (default beside VENV), NAME (the served model name, default tiny-llama),
#       LAUNCH: how vLLM is started, as a user would:
#         serve    `vllm serve MODEL` (default)
#         module   `python -m vllm.entrypoints.openai.api_server --model MODEL`
#         wrapped  the module form run by a shell that stays its parent (a wrapper script)
# About 4.4 GB of memory while it runs; /health answers after about 40 s on an idle machine.
# Example: run-vllm.sh 18000 --enable-sleep-mode
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/wait-health.sh
source "$HERE/lib/wait-health.sh"
PORT="${1:-18000}"; shift || true
VENV="${VENV:-${HOME}/.cache/llm-exporter/vllm-venv}"
"$HERE/vllm-install.sh" "$VENV" >/dev/null
CACHE="$(dirname "$VENV")"
MODEL="${MODEL:-$CACHE/tiny-llama-hf}"
LOG="${LOG:-$CACHE/vllm-$PORT.log}"
# CPU platform, 1 GiB of KV cache, nothing fetched from the network, caches kept out of $HOME.
export VLLM_TARGET_DEVICE=cpu VLLM_CPU_KVCACHE_SPACE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
export VLLM_CACHE_ROOT="$CACHE/vllm-cache" VLLM_CONFIG_ROOT="$CACHE/vllm-config" XDG_CACHE_HOME="$CACHE/vllm-cache/xdg"
# --enforce-eager: no graph compilation, which would add about 30 s to every start.
common=(--port "$PORT" --host 127.0.0.1 --max-model-len 1024 --served-model-name "${NAME:-tiny-llama}" --enforce-eager)
module=("$VENV/bin/python" -m vllm.entrypoints.openai.api_server --model "$MODEL")
case "${LAUNCH:-serve}" in
  serve) command=("$VENV/bin/vllm" serve "$MODEL") ;;
  module) command=("${module[@]}") ;;
  wrapped) command=(bash -c '"$@"; exit $?' wrapper "${module[@]}") ;;
  *) echo "run-vllm: LAUNCH is serve, module or wrapped, not ${LAUNCH}" >&2; exit 2 ;;
esac
setsid "${command[@]}" "${common[@]}" "$@" >"$LOG" 2>&1 </dev/null &
PID=$!
wait_health vLLM "$PID" "$PORT" 600 "$LOG"
