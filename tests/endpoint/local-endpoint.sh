#!/usr/bin/env bash
# Start the local AWS endpoint (moto + our VM Import layer) for humans.
#   tests/endpoint/local-endpoint.sh [PORT]   start (default: a free port),
#                                             bootstrap, print how to use it
#   tests/endpoint/local-endpoint.sh stop     stop it
# State (port, pid, admin.json, requests.jsonl, bootstrap/env) lives in
# $AMIFS_ENDPOINT_STATE (default /tmp/amifs-endpoint-$USER). The server runs
# under $AMIFS_PYTHON, else the first python3 on PATH that can import moto.
# $AMIFS_PHASE_SECONDS sets the length of each import phase (default 1.0).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
STATE="${AMIFS_ENDPOINT_STATE:-/tmp/amifs-endpoint-${USER:-$(id -un)}}"

find_python() {
    local py
    for py in "${AMIFS_PYTHON:-}" python3 /usr/local/bin/python3 /usr/bin/python3; do
        [ -n "$py" ] || continue
        command -v "$py" >/dev/null 2>&1 || continue
        if "$py" -c 'import moto.server, werkzeug, boto3' 2>/dev/null; then
            command -v "$py"; return 0
        fi
    done
    echo "local-endpoint: no python3 with moto[server] and boto3 (set AMIFS_PYTHON)" >&2
    return 1
}

running() {
    [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null
}

if [ "${1:-}" = "stop" ]; then
    if running; then
        kill "$(cat "$STATE/pid")"
        echo "local-endpoint: stopped (pid $(cat "$STATE/pid"))"
    else
        echo "local-endpoint: not running"
    fi
    rm -f "$STATE/pid" "$STATE/port"
    exit 0
fi

if running; then
    echo "local-endpoint: already running at http://127.0.0.1:$(cat "$STATE/port")"
    echo "  source $STATE/bootstrap/env"
    exit 0
fi

PY="$(find_python)"
mkdir -p "$STATE"
rm -f "$STATE/port" "$STATE/pid"
nohup "$PY" "$HERE/server.py" --host 127.0.0.1 --port "${1:-0}" \
    --state-dir "$STATE" --phase-seconds "${AMIFS_PHASE_SECONDS:-1.0}" \
    >"$STATE/server.log" 2>&1 &
for _ in $(seq 1 300); do
    [ -f "$STATE/port" ] && break
    sleep 0.1
done
if [ ! -f "$STATE/port" ]; then
    echo "local-endpoint: server did not start; see $STATE/server.log" >&2
    exit 1
fi
URL="http://127.0.0.1:$(cat "$STATE/port")"
"$PY" "$HERE/bootstrap.py" --endpoint "$URL" --out "$STATE/bootstrap" \
    --region "${AWS_DEFAULT_REGION:-us-east-1}" --admin "$STATE/admin.json" >/dev/null
cat <<MSG
local-endpoint: running at $URL (pid $(cat "$STATE/pid"), log $STATE/server.log)
Use it:
  source $STATE/bootstrap/env
  aws --endpoint-url $URL s3 ls s3://amifs-staging/
  aws --endpoint-url $URL ec2 describe-import-image-tasks
Requests: $STATE/requests.jsonl (or GET $URL/_amifs/requests)
Stop:     $0 stop
MSG
