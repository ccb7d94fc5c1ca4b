#!/usr/bin/env bash
# `make run`: the whole hub on its embedded defaults — the sandbox department systems and
# the API — ready to use. Ctrl-C stops every process this script started.
set -euo pipefail
BIN=${BIN:-.venv/bin}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
WORKERS=${WORKERS:-2}
HUB_HOME=${HUB_HOME:-var}
export HUB_HOME

"$BIN/jingkai" init
"$BIN/jingkai" demo-keys

pids=()
stop() {
  trap - INT TERM EXIT
  # Background jobs of a script ignore SIGINT, so they get TERM (uvicorn stops gracefully).
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$BIN/jingkai" sandbox --data-dir "$HUB_HOME/sandbox" &
pids+=($!)
"$BIN/jingkai" serve --host "$HOST" --port "$PORT" --workers "$WORKERS" &
pids+=($!)
wait -n "${pids[@]}"
