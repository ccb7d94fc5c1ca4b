#!/usr/bin/env bash
# `make run`: the whole hub on its embedded defaults — the sandbox department systems, the API
# with its embedded worker, and Airflow standalone with the hub's DAGs — ready to use.
# Ctrl-C (or TERM) stops every process this script started, children included.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-.venv/bin}
BIN=$(cd "$BIN" && pwd)
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
WORKERS=${WORKERS:-2}
AIRFLOW_PORT=${AIRFLOW_PORT:-8080}
READY_TIMEOUT=${READY_TIMEOUT:-600}
HUB_HOME=${HUB_HOME:-var}
mkdir -p "$HUB_HOME"
HUB_HOME=$(cd "$HUB_HOME" && pwd)
export HUB_HOME
SANDBOX_DIR=$HUB_HOME/sandbox
AIRFLOW_DATA=$HUB_HOME/airflow
mkdir -p "$SANDBOX_DIR" "$AIRFLOW_DATA"

# --- Airflow: the repository's airflow.cfg, its data under $HUB_HOME/airflow ------------------
export AIRFLOW_HOME=$ROOT AIRFLOW_CONFIG=$ROOT/airflow.cfg
export AIRFLOW__API__PORT=$AIRFLOW_PORT AIRFLOW__API__BASE_URL=http://127.0.0.1:$AIRFLOW_PORT
# Keys every Airflow component must share, made once per machine and never put in git.
if [ ! -s "$AIRFLOW_DATA/secrets.env" ]; then
  (umask 077 && "$BIN/python" - "$AIRFLOW_DATA/secrets.env" <<'EOF'
import secrets, sys
from cryptography.fernet import Fernet
with open(sys.argv[1], "w") as out:
    out.write(f"AIRFLOW__CORE__FERNET_KEY={Fernet.generate_key().decode()}\n")
    out.write(f"AIRFLOW__API__SECRET_KEY={secrets.token_urlsafe(32)}\n")
    out.write(f"AIRFLOW__API_AUTH__JWT_SECRET={secrets.token_urlsafe(32)}\n")
EOF
  )
fi
set -a
# shellcheck disable=SC1091
. "$AIRFLOW_DATA/secrets.env"
set +a
# The local admin's password (Airflow's simple auth manager reads this file).
if [ ! -s "$AIRFLOW_DATA/passwords.json" ]; then
  (umask 077 && "$BIN/python" -c 'import json, secrets, sys
json.dump({"admin": secrets.token_urlsafe(12)}, open(sys.argv[1], "w"))' \
    "$AIRFLOW_DATA/passwords.json")
fi
ADMIN_PASSWORD=$("$BIN/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' \
  "$AIRFLOW_DATA/passwords.json")

# --- The sandbox systems' connection secrets (connectors/README.md) and loopback allow-list ----
export HUB_ALLOWED_HOSTS=${HUB_ALLOWED_HOSTS:-127.0.0.1}
export HUB_ALLOW_PRIVATE=${HUB_ALLOW_PRIVATE:-1}
export HUB_EMBEDDED_WORKER=${HUB_EMBEDDED_WORKER:-1}
export AIRFLOW_CONN_WEAVER_ENV=${AIRFLOW_CONN_WEAVER_ENV:-soap://hub:weaver-sandbox@127.0.0.1:8101}
export AIRFLOW_CONN_SEEYON_URBAN=${AIRFLOW_CONN_SEEYON_URBAN:-http://hub:seeyon-sandbox@127.0.0.1:8102}
export AIRFLOW_CONN_HEBEI_NETWORK=${AIRFLOW_CONN_HEBEI_NETWORK:-soap://exchange_user:hebei-sandbox@127.0.0.1:8104}
export AIRFLOW_CONN_HOTLINE_CENTRE=${AIRFLOW_CONN_HOTLINE_CENTRE:-http://:hotline-sandbox-key@127.0.0.1:8105}
export AIRFLOW_CONN_SEEYON_URBAN_CALLBACK=${AIRFLOW_CONN_SEEYON_URBAN_CALLBACK:-http://:seeyon-callback-secret@}
TONGDA_URI=sqlite:///$("$BIN/python" -c 'import sys, urllib.parse
print(urllib.parse.quote(sys.argv[1], safe=""))' "$SANDBOX_DIR/tongda.db")
export AIRFLOW_CONN_TONGDA_HOUSING=${AIRFLOW_CONN_TONGDA_HOUSING:-$TONGDA_URI}

# For a second terminal: `source var/airflow/airflow.env` and the airflow CLI sees this setup.
(umask 077 && {
  for name in AIRFLOW_HOME AIRFLOW_CONFIG HUB_HOME AIRFLOW__API__PORT AIRFLOW__API__BASE_URL \
    HUB_ALLOWED_HOSTS HUB_ALLOW_PRIVATE AIRFLOW_CONN_WEAVER_ENV AIRFLOW_CONN_SEEYON_URBAN \
    AIRFLOW_CONN_HEBEI_NETWORK AIRFLOW_CONN_HOTLINE_CENTRE AIRFLOW_CONN_TONGDA_HOUSING \
    AIRFLOW_CONN_SEEYON_URBAN_CALLBACK; do
    printf 'export %s=%q\n' "$name" "${!name}"
  done
  printf 'set -a; . %q; set +a\n' "$AIRFLOW_DATA/secrets.env"
} > "$AIRFLOW_DATA/airflow.env")

"$BIN/jingkai" init
"$BIN/jingkai" demo-keys

# --- Start everything, each in its own session so a stop reaches its children too ------------
pids=()
stopping=0
stop() {
  trap - INT TERM EXIT
  [ "$stopping" = 1 ] && return
  stopping=1
  echo "正在停止 stopping…"
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 60); do  # up to 30 s for a graceful stop
    alive=0
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "已停止 stopped"
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

# First start: give the Hebei network a matter list for the catalogue sync to pick up.
SEED=0
[ -e "$SANDBOX_DIR/hebei.db" ] || SEED=${SEED_MATTERS:-200}
setsid "$BIN/jingkai" sandbox --data-dir "$SANDBOX_DIR" --seed-matters "$SEED" &
pids+=($!)
setsid "$BIN/jingkai" serve --host "$HOST" --port "$PORT" --workers "$WORKERS" &
pids+=($!)
# Airflow's four components print a lot: their output goes to a file.
PATH="$BIN:$PATH" setsid "$BIN/airflow" standalone >"$AIRFLOW_DATA/standalone.log" 2>&1 &
pids+=($!)

answers() { "$BIN/python" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=3).read()' "$1" 2>/dev/null; }
API_URL=http://$HOST:$PORT
[ "$HOST" = 0.0.0.0 ] && API_URL=http://127.0.0.1:$PORT
AIRFLOW_URL=http://127.0.0.1:$AIRFLOW_PORT
deadline=$((SECONDS + READY_TIMEOUT))
api_up=0
until [ "$api_up" = 1 ] && answers "$AIRFLOW_URL/api/v2/monitor/health"; do
  [ "$api_up" = 1 ] || { answers "$API_URL/healthz" && api_up=1 && continue; }
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "启动失败 (a process exited during start-up); Airflow 日志 log: $AIRFLOW_DATA/standalone.log" >&2
      tail -n 20 "$AIRFLOW_DATA/standalone.log" >&2 || true
      exit 1
    fi
  done
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "启动超时 (not ready after ${READY_TIMEOUT}s); 见 see $AIRFLOW_DATA/standalone.log" >&2
    exit 1
  fi
  sleep 2
done

cat <<EOF

==================== 经开枢纽 Jingkai Hub 已就绪 (ready) ====================
 API          $API_URL/api/v1     文档 docs: $API_URL/docs
 Airflow      $AIRFLOW_URL       登录 login: admin / $ADMIN_PASSWORD
 沙箱 sandbox  weaver :8101  seeyon :8102  tongda :8103  hebei :8104  hotline :8105
 演示密钥 demo keys: source $HUB_HOME/demo-keys.env
 Airflow CLI: source $AIRFLOW_DATA/airflow.env   日志 log: $AIRFLOW_DATA/standalone.log
 按 Ctrl-C 停止全部进程 (Ctrl-C stops everything)
=============================================================================
EOF

wait -n "${pids[@]}" || true
echo "有进程已退出，全部停止 (a process exited; stopping the rest)" >&2
