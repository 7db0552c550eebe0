#!/usr/bin/env bash
# Starts a real mlx_lm.server (MLX's Linux CPU backend) on loopback with the tiny random-weight
# model, waits until it answers /health, and prints "PID URL". PID leads its own process group:
# stop it with  kill -- -PID
# Usage: run-mlx-server.sh [PORT] [extra mlx_lm.server args...]
#   env VENV (default $HOME/.cache/llm-exporter/mlx-venv), MODEL (default: made beside VENV),
#       LOG (default beside VENV), HF_HUB_CACHE (default: an empty directory beside VENV).
# mlx_lm.server's /v1/models lists the Hugging Face cache and the --model directory; when the
# cache directory does not exist it answers 200 with an empty body. HF_HUB_CACHE=/nonexistent
# starts a server in that state.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/wait-health.sh
source "$HERE/lib/wait-health.sh"
PORT="${1:-18001}"; shift || true
VENV="${VENV:-${HOME}/.cache/llm-exporter/mlx-venv}"
BIN="$("$HERE/mlx-install.sh" "$VENV")"
CACHE="$(dirname "$VENV")"
MODEL="${MODEL:-$CACHE/tiny-llama-hf}"
LOG="${LOG:-$CACHE/mlx-server-$PORT.log}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HOME="$CACHE/mlx-hf-home"
export HF_HUB_CACHE="${HF_HUB_CACHE:-$HF_HOME/hub}"
[[ "$HF_HUB_CACHE" == /nonexistent* ]] || mkdir -p "$HF_HUB_CACHE"
setsid "$BIN" --model "$MODEL" --host 127.0.0.1 --port "$PORT" "$@" >"$LOG" 2>&1 </dev/null &
PID=$!
wait_health mlx_lm.server "$PID" "$PORT" 120 "$LOG"
