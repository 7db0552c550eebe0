# Sourced by the run-*.sh scripts that start a server in its own process group.
# wait_health NAME PID PORT SECONDS LOG: prints "PID URL" once http://127.0.0.1:PORT/health
# answers 2xx and returns 0; when the server exits first, or after SECONDS, says why on stderr
# with the end of LOG, stops the group, and returns 1.
wait_health() {
  local name="$1" pid="$2" port="$3" seconds="$4" log="$5"
  local until=$((SECONDS + seconds))
  while ((SECONDS < until)); do
    if curl -fsS -m 5 "http://127.0.0.1:$port/health" >/dev/null 2>&1; then echo "$pid http://127.0.0.1:$port"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "$name exited; log: $log" >&2; tail -n 30 "$log" >&2; kill -- -"$pid" 2>/dev/null; return 1; }
    sleep 0.2
  done
  echo "$name: no /health after $seconds s; log: $log" >&2
  kill -- -"$pid" 2>/dev/null
  return 1
}
