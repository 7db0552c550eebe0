#!/usr/bin/env bash
# Installs a real mlx_lm.server (MLX's Linux CPU backend, from PyPI) into a Python venv and prints
# the path of its `mlx_lm.server` command. Also writes the tiny random-weight model the tests serve
# (make-tiny-llama.py), the same one vllm-install.sh writes.
# Usage: mlx-install.sh [VENV_DIR]      (default: $HOME/.cache/llm-exporter/mlx-venv)
# About 64 MB downloaded, a 365 MB venv and 20-30 s, once per machine; re-running is cheap: a finished
# install (its stamp file matches the pins) is reused. Concurrent runs wait for each other.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${1:-${HOME}/.cache/llm-exporter/mlx-venv}"
MLX=0.32.4
MLX_LM=0.32.2
PINS="$HERE/pins/mlx-constraints.txt"
STAMP="$VENV/.llm-exporter-install"
want="mlx $MLX mlx-lm $MLX_LM $(md5sum <"$PINS" | cut -c1-12)"

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
  echo "mlx-install: installing mlx[cpu] $MLX and mlx-lm $MLX_LM into $VENV" >&2
  rm -rf "$VENV"
  /usr/bin/python3 -m venv "$VENV" >&2
  nice -n 10 "$VENV/bin/pip" install -q --upgrade pip >&2
  nice -n 10 "$VENV/bin/pip" install -q "mlx[cpu]==$MLX" "mlx-lm[cpu]==$MLX_LM" -c "$PINS" >&2
  "$VENV/bin/python" -c 'import mlx.core as mx, mlx_lm; print("mlx", mx.__version__, mx.default_device(), "mlx-lm", mlx_lm.__version__)' >&2
  echo "$want" >"$STAMP"
fi
MODEL="$(dirname "$VENV")/tiny-llama-hf"
[[ -s "$MODEL/model.safetensors" ]] || TRANSFORMERS_VERBOSITY=error "$VENV/bin/python" "$HERE/make-tiny-llama.py" "$MODEL" >&2
echo "$VENV/bin/mlx_lm.server"
