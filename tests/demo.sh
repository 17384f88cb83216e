#!/usr/bin/env bash
# The main job, on the local endpoint, for a newcomer to watch:
#   1. install + build (tests/setup-debian.sh)
#   2. start the local AWS endpoint (moto + our VM Import layer) and bootstrap
#      an account the way an administrator would (user, bucket, vmimport role)
#   3. mount amifs, generate a small OVA with real tools, `cp` it into
#      imports/, follow tasks/vm.ova/status until `completed ami-…`
#   4. show the AMI under amis/ and as the AWS CLI sees it; unmount, stop.
# Options: --keep  leave the endpoint and the mount running at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
KEEP=0; [ "${1:-}" = "--keep" ] && KEEP=1

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "installing and building"
tests/setup-debian.sh
PY=$(cat build/.amifs-python)

WORK=$(mktemp -d /tmp/amifs-demo.XXXXXX)
MNT="$WORK/mnt"; mkdir -p "$MNT"
cleanup() {
    [ "$KEEP" = 1 ] && { echo "left running: mount $MNT, endpoint pid $(cat "$WORK/endpoint/pid" 2>/dev/null)"; return; }
    fusermount3 -u "$MNT" 2>/dev/null || true
    [ -f "$WORK/endpoint/pid" ] && kill "$(cat "$WORK/endpoint/pid")" 2>/dev/null || true
}
trap cleanup EXIT

say "starting the local AWS endpoint (moto with SigV4 checks on + VM Import layer)"
mkdir -p "$WORK/endpoint"
"$PY" tests/endpoint/server.py --host 127.0.0.1 --port 0 \
    --state-dir "$WORK/endpoint" --phase-seconds 2 >"$WORK/endpoint.log" 2>&1 &
for _ in $(seq 100); do [ -s "$WORK/endpoint/port" ] && break; sleep 0.1; done
URL="http://127.0.0.1:$(cat "$WORK/endpoint/port")"
echo "endpoint: $URL (request log: $WORK/endpoint/requests.jsonl)"

say "bootstrapping the account: IAM user, staging bucket, vmimport role"
"$PY" tests/endpoint/bootstrap.py --endpoint "$URL" --out "$WORK/account" \
    --admin "$WORK/endpoint/admin.json"
# shellcheck disable=SC1091
source "$WORK/account/env"

say "generating a small VM export (OVA: OVF descriptor + stream-optimized VMDK)"
"$PY" tests/images/mkimages.py "$WORK/images" --only ova-ustar >/dev/null
OVA=$(ls "$WORK"/images/*.ova | head -1)
cp "$OVA" "$WORK/vm.ova"
run build/fs/amifs inspect "$WORK/vm.ova"

say "mounting amifs"
run build/fs/amifs -o "endpoint=$URL,bucket=$AMIFS_BUCKET" "$MNT"
run ls "$MNT"

say "cp vm.ova into imports/ (streams to S3, validates, starts ImportImage)"
run cp "$WORK/vm.ova" "$MNT/imports/"

say "following tasks/vm.ova/status"
last=""
for _ in $(seq 300); do
    line=$(cat "$MNT/tasks/vm.ova/status" 2>/dev/null || true)
    [ "$line" != "$last" ] && { echo "$line"; last=$line; }
    case "$line" in completed*|failed*|cancelled*) break ;; esac
    sleep 0.5
done

say "the result"
run ls -l "$MNT/tasks/vm.ova/"
run ls "$MNT/amis/"
AMI=$(readlink "$MNT/tasks/vm.ova/ami" | sed 's|.*/||')
run aws --endpoint-url "$URL" ec2 describe-images --image-ids "$AMI" \
    --query 'Images[0].{Id:ImageId,State:State,Tags:Tags}' --output json
case "$last" in completed*) echo "demo: OK" ;; *) echo "demo: import did not complete"; exit 1 ;; esac
