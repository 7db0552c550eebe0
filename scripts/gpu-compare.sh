#!/usr/bin/env bash
# Compares llm-exporter's GPU series with nvidia-smi on a machine with an NVIDIA GPU: builds the
# exporter, starts it on a free loopback port (NVML and process collectors only), scrapes once to
# load NVML, then scrapes again while nvidia-smi reads the same GPUs, and prints both side by
# side in nvidia-smi's units, plus the per-process GPU memory of both.
#
# Usage: scripts/gpu-compare.sh [extra llm-exporter flags, e.g. --nvml.library PATH]
# Needs: cargo, curl, awk, nvidia-smi.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v nvidia-smi >/dev/null || { echo "gpu-compare: nvidia-smi not found" >&2; exit 1; }
cargo build --release -p llm-exporter
BIN="${CARGO_TARGET_DIR:-target}/release/llm-exporter"

WORK=$(mktemp -d)
"$BIN" --web.listen-address 127.0.0.1:0 --no-collector.llm --no-discovery "$@" 2>"$WORK/log" &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

ADDR=""
for _ in $(seq 1 100); do
    ADDR=$(sed -n 's/.*listening on \([^,]*\),.*/\1/p' "$WORK/log" | head -n 1)
    [ -n "$ADDR" ] && break
    sleep 0.1
done
[ -n "$ADDR" ] || { echo "gpu-compare: the exporter did not start:" >&2; cat "$WORK/log" >&2; exit 1; }

curl -s --max-time 30 "http://$ADDR/metrics" >/dev/null # loads NVML and the static facts
sleep 1
curl -s --max-time 30 "http://$ADDR/metrics" >"$WORK/metrics" &
CURL=$!
QUERY=index,uuid,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw,power.limit,clocks.sm,clocks.mem,pstate
nvidia-smi --query-gpu="$QUERY" --format=csv >"$WORK/smi.csv"
nvidia-smi --query-compute-apps=gpu_uuid,pid,process_name,used_memory --format=csv >"$WORK/apps.csv" || true
wait "$CURL"

echo "== nvidia-smi --query-gpu=$QUERY --format=csv"
cat "$WORK/smi.csv"
echo
echo "== llm-exporter, the same columns in nvidia-smi's units (taken at the same moment)"
awk '
    function label(line, name,    re, m) {
        re = name "=\"[^\"]*\""
        if (!match(line, re)) return ""
        m = substr(line, RSTART + length(name) + 2, RLENGTH - length(name) - 3)
        return m
    }
    /^llm_gpu_/ {
        metric = $1; sub(/\{.*/, "", metric)
        gpu = label($0, "gpu"); value = $NF
        if (metric == "llm_gpu_info") { uuid[gpu] = label($0, "uuid"); name[gpu] = label($0, "name"); seen[gpu] = 1 }
        else if (metric == "llm_gpu_utilization_ratio") util[gpu] = sprintf("%d %%", value * 100 + 0.5)
        else if (metric == "llm_gpu_memory_used_bytes") used[gpu] = sprintf("%d MiB", value / 1048576)
        else if (metric == "llm_gpu_memory_total_bytes") total[gpu] = sprintf("%d MiB", value / 1048576)
        else if (metric == "llm_gpu_temperature_celsius") temp[gpu] = value
        else if (metric == "llm_gpu_power_watts") power[gpu] = sprintf("%.2f W", value)
        else if (metric == "llm_gpu_power_limit_watts") limit[gpu] = sprintf("%.2f W", value)
        else if (metric == "llm_gpu_clock_hertz" && label($0, "clock") == "sm") sm[gpu] = sprintf("%d MHz", value / 1e6)
        else if (metric == "llm_gpu_clock_hertz" && label($0, "clock") == "memory") mem[gpu] = sprintf("%d MHz", value / 1e6)
        else if (metric == "llm_gpu_performance_state") pstate[gpu] = "P" value
    }
    /^llm_exporter_collector_success\{collector="nvml"\}/ { success = $NF }
    END {
        print "index, uuid, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], temperature.gpu, power.draw [W], power.limit [W], clocks.current.sm [MHz], clocks.current.memory [MHz], pstate"
        for (g = 0; g < 64; g++) {
            if (!(g in seen)) continue
            printf "%d, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s\n", g, uuid[g], name[g], util[g], used[g], total[g], temp[g], power[g], limit[g], sm[g], mem[g], pstate[g]
        }
        print "(llm_exporter_collector_success{collector=\"nvml\"} " success ")"
    }
' "$WORK/metrics"
echo
echo "== nvidia-smi --query-compute-apps=gpu_uuid,pid,process_name,used_memory --format=csv"
cat "$WORK/apps.csv"
echo
echo "== llm-exporter llm_process_gpu_memory_bytes (MiB) and llm_process_gpu_utilization_ratio"
grep -E '^llm_process_gpu_(memory_bytes|utilization_ratio)' "$WORK/metrics" |
    awk '/memory_bytes/ { $NF = sprintf("%d MiB", $NF / 1048576) } { print }' || echo "(none)"
echo
echo "== every llm_gpu_ sample"
grep -E '^llm_gpu_' "$WORK/metrics" || echo "(none)"
echo
echo "== the exporter's log"
cat "$WORK/log"
