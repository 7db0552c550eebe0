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
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then echo "$PID http://127.0.0.1:$PORT"; exit 0; fi
  kill -0 "$PID" 2>/dev/null || { echo "run-mlx-server: mlx_lm.server exited; log: $LOG" >&2; tail -n 30 "$LOG" >&2; exit 1; }
  sleep 0.2
done
echo "run-mlx-server: no /health after 120 s; log: $LOG" >&2; kill -- -"$PID"; exit 1
