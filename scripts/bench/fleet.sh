#!/usr/bin/env bash
# Fleet overhead benchmark (issue 2, "What it must show", third bullet): how fast the fleet's own bookkeeping runs,
# with real processes on the local stack — `batchvlm upload`, `submit` (list the archive in Azurite, cut shards,
# record job + shards in PostgreSQL, send ProcessShard over RabbitMQ), `worker --tasks inspect` (claim, download,
# inspect, COPY results + commit, publish outcome) and `coordinator` (outcomes, job finish).
# Goal: >= 5,000 items/s per worker for the bookkeeping, so the fleet adds < 5 % to any GPU task.
#
#   scripts/bench/fleet.sh                 100,000 tiny images, 1 worker, shards of 1,000
#   N=20000 WORKERS=2 SHARD=500 scripts/bench/fleet.sh
#   SKIP_AZURITE=1 scripts/bench/fleet.sh  only (b): no upload, no Azurite listing
#   PARAMS='{}' scripts/bench/fleet.sh     (b) with inspect's full decode (default: {"decode": false}, header only)
#
# Two measurements: (a) listing + sharding N blobs in Azurite = `submit` over the uploaded container, against a
# reference measured in the same run: listing the same blobs straight from Azurite's REST API (List Blobs, 5,000 per
# page, SharedKey) with python3 — the floor for `submit`'s listing; (b) the per-item bookkeeping = a job over the same
# N images in a local folder, timed from the first shard claimed to the last shard committed (the database's
# started_at/finished_at), per worker. (b) does not read from Azurite because Azurite, one node.js process, serves
# far fewer GETs per second than the fleet's goal (measured here: about 100 PUT/s and, under load, 8 GET/s).
# The images are 1x1..4x4 PNGs (~70 bytes), so decode and download are as small as they get and what is left is the
# fleet's per-item cost; (b) runs inspect header-only ({"decode": false}: probe + sha256, no pixels) so what is
# measured is the bookkeeping; PARAMS='{}' measures it with the full decode instead (decode_ms is then reported).
# Everything runs in its own PostgreSQL database (batchvlm_bench) and RabbitMQ virtual host (batchvlm-bench), so the
# benchmark never touches other work on the stack. Images and the upload are cached under <state>/bench/fleet.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_gcServer=0
N="${N:-100000}"; WORKERS="${WORKERS:-1}"; SHARD="${SHARD:-1000}"; SKIP_AZURITE="${SKIP_AZURITE:-0}"
PARAMS="${PARAMS:-{\"decode\": false\}}"
STATE="${BATCHVLM_STATE:-$root/.state}"
BENCH="$STATE/bench/fleet"; IMAGES="$BENCH/images-$N"; LOGS="$BENCH/logs/$(date -u +%Y%m%d-%H%M%S)"
CONTAINER="bench-fleet-$N"; PY=/usr/bin/python3   # Debian's python3; standard library only
mkdir -p "$BENCH" "$LOGS"

say() { printf '%s\n' "$*" | tee -a "$LOGS/summary.txt"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }

"$root/scripts/stack.sh" up >/dev/null
SETTINGS="$STATE/batchvlm.settings.json"; CREDS="$STATE/credentials.env"
# shellcheck disable=SC1090
source "$CREDS"
json() { "$PY" -c "import json,sys; d=json.load(open('$SETTINGS')); print(eval(sys.argv[1]))" "$1"; }
PG_CS=$(json "d['ConnectionStrings']['Postgres']"); RMQ_USER=$(json "d['RabbitMq']['Username']"); RMQ_PW=$(json "d['RabbitMq']['Password']")
MGMT_PORT=$(json "d['RabbitMq'].get('ManagementPort', 15679)")
BENCH_CS="${PG_CS/Database=batchvlm/Database=batchvlm_bench}"
export BATCHVLM_ConnectionStrings__Postgres="$BENCH_CS" BATCHVLM_RabbitMq__VirtualHost=batchvlm-bench

# Fresh database and virtual host for every run (passwords through the environment, never on a command line).
PGPASSWORD="$POSTGRES_SUPERUSER_PASSWORD" psql -h 127.0.0.1 -p 5439 -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS batchvlm_bench WITH (FORCE)" -c "CREATE DATABASE batchvlm_bench OWNER batchvlm" >/dev/null
mgmt() { curl -sf -K - "$@" <<<"user = \"$RMQ_USER:$RMQ_PW\"" ; }
mgmt -X DELETE "http://127.0.0.1:$MGMT_PORT/api/vhosts/batchvlm-bench" >/dev/null || true
mgmt -X PUT "http://127.0.0.1:$MGMT_PORT/api/vhosts/batchvlm-bench" -H 'content-type: application/json' -d '{}' >/dev/null
mgmt -X PUT "http://127.0.0.1:$MGMT_PORT/api/permissions/batchvlm-bench/$RMQ_USER" -H 'content-type: application/json' \
  -d '{"configure":".*","write":".*","read":".*"}' >/dev/null
psqlb() { PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -p 5439 -U batchvlm -d batchvlm_bench -qAtX -v ON_ERROR_STOP=1 "$@"; }

# A prebuilt CLI (BATCHVLM_TEST_CLI_DLL, as the system tests take it) or cli/BatchVlm.Cli built in Release now.
if [[ -n "${BATCHVLM_TEST_CLI_DLL:-}" ]]; then
  CLI="$BATCHVLM_TEST_CLI_DLL"
else
  dotnet build "$root/cli/BatchVlm.Cli" -c Release -v q -nologo >"$LOGS/build.log" 2>&1 || { cat "$LOGS/build.log"; exit 1; }
  CLI="$root/cli/BatchVlm.Cli/bin/Release/net10.0/batchvlm.dll"
fi
cli() { dotnet "$CLI" "$@"; }

say "fleet overhead benchmark: N=$N images, $WORKERS worker(s), shards of $SHARD; $(nproc) cores; logs $LOGS"
say "note: other processes may share the cores (other builds and tests); run it on a quiet machine for final figures"

# 1. Images: tiny unique PNGs in 100 folders (generated once).
if [[ ! -f "$IMAGES.done" ]]; then
  rm -rf "$IMAGES"
  t0=$(now)
  "$PY" - "$IMAGES" "$N" <<'PYEOF'
import os, struct, sys, zlib
out, n = sys.argv[1], int(sys.argv[2])
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
for i in range(n):
    w, h = 1 + i % 4, 1 + (i // 4) % 4
    # One filter byte per row, then RGB pixels derived from i so every image (and its sha256) is unique.
    raw = b"".join(b"\0" + b"".join(bytes(((i + x) & 255, (i >> 8) & 255, ((i >> 16) ^ y) & 255)) for x in range(w)) for y in range(h))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    d = os.path.join(out, f"p{i % 100:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"img-{i:07d}.png"), "wb") as f: f.write(png)
PYEOF
  touch "$IMAGES.done"   # beside the folder, not in it: everything in the folder is uploaded
  say "generate   $N PNGs ($(du -sh "$IMAGES" | cut -f1) on disk) in $(secs "$t0" "$(now)") s"
fi

# 2. Upload once per N (`batchvlm upload`).
if [[ "$SKIP_AZURITE" != 1 && ! -f "$BENCH/uploaded-$N" ]]; then
  t0=$(now)
  cli upload "$IMAGES" "az://$CONTAINER/img" >"$LOGS/upload.log" 2>&1 || { tail -20 "$LOGS/upload.log"; exit 1; }
  t=$(secs "$t0" "$(now)")
  touch "$BENCH/uploaded-$N"
  say "upload     $N blobs with batchvlm upload: $t s ($(rate "$N" "$t") blobs/s)"
fi

# 3. Reference: raw List Blobs over the same container (SharedKey, 5,000 per page).
if [[ "$SKIP_AZURITE" != 1 ]]; then
t0=$(now)
listed=$("$PY" - "$SETTINGS" "$CONTAINER" <<'PYEOF'
import base64, datetime, hashlib, hmac, json, re, sys, urllib.parse, urllib.request
cs = dict(kv.split("=", 1) for kv in json.load(open(sys.argv[1]))["Storage"]["ConnectionString"].strip(";").split(";"))
account, key, endpoint, container = cs["AccountName"], base64.b64decode(cs["AccountKey"]), cs["BlobEndpoint"].rstrip("/"), sys.argv[2]
marker, count = "", 0
while True:
    q = {"restype": "container", "comp": "list", "prefix": "img/", "maxresults": "5000"}
    if marker: q["marker"] = marker
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    canon_q = "".join(f"\n{k}:{v}" for k, v in sorted(q.items()))
    sts = "GET\n" + "\n" * 11 + f"x-ms-date:{date}\nx-ms-version:2025-01-05\n/{account}/{account}/{container}" + canon_q
    sig = base64.b64encode(hmac.new(key, sts.encode(), hashlib.sha256).digest()).decode()
    req = urllib.request.Request(f"{endpoint}/{container}?" + urllib.parse.urlencode(q),
        headers={"x-ms-date": date, "x-ms-version": "2025-01-05", "Authorization": f"SharedKey {account}:{sig}"})
    body = urllib.request.urlopen(req).read().decode()
    count += body.count("<Blob>")
    m = re.search(r"<NextMarker>([^<]*)</NextMarker>", body)
    marker = m.group(1) if m else ""
    if not marker: break
print(count)
PYEOF
)
t=$(secs "$t0" "$(now)")
say "reference  raw List Blobs (python3, REST): $listed blobs in $t s ($(rate "$listed" "$t") blobs/s)"
fi

# 4. Start the fleet: workers first (their queue must exist before shards arrive), then the coordinator.
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for w in $(seq 1 "$WORKERS"); do
  dotnet "$CLI" worker --tasks inspect >"$LOGS/worker-$w.log" 2>&1 &
  pids+=($!)
done
dotnet "$CLI" coordinator >"$LOGS/coordinator.log" 2>&1 &
pids+=($!)
# Wait until every worker consumes its queue (start-up is not part of what is measured).
queue="batchvlm.process-shard.inspect.none"
for _ in $(seq 1 600); do
  consumers=$(mgmt "http://127.0.0.1:$MGMT_PORT/api/queues/batchvlm-bench/$queue" 2>/dev/null \
    | "$PY" -c "import json,sys; print(json.load(sys.stdin).get('consumers', 0))" 2>/dev/null || echo 0)
  [[ "$consumers" -ge "$WORKERS" ]] && break
  sleep 0.5
done
[[ "${consumers:-0}" -ge "$WORKERS" ]] || { say "workers did not start consuming $queue; see $LOGS"; exit 1; }

# 5. Listing + sharding in Azurite: `submit` over the uploaded container (list N blobs, cut shards, record the job
#    and its shards, send ProcessShard). The job is then cancelled: reading 100,000 blobs back one GET each measures
#    Azurite (one node.js process), not the fleet.
if [[ "$SKIP_AZURITE" != 1 ]]; then
t0=$(now)
cli submit --task inspect --input "az://$CONTAINER/img" --shard-size "$SHARD" >"$LOGS/submit-azurite.log" 2>&1 || { cat "$LOGS/submit-azurite.log"; exit 1; }
t=$(secs "$t0" "$(now)")
job=$(tail -n1 "$LOGS/submit-azurite.log" | tr -d '[:space:]')
say "submit     Azurite: list + shard + record + send $N blobs: $t s ($(rate "$N" "$t") items/s), process start-up included"
cli cancel "$job" >"$LOGS/cancel.log" 2>&1 || { cat "$LOGS/cancel.log"; exit 1; }
# Let the workers drop the cancelled job's shards before timing the next job.
for _ in $(seq 1 600); do
  depth=$(mgmt "http://127.0.0.1:$MGMT_PORT/api/queues/batchvlm-bench/$queue" 2>/dev/null \
    | "$PY" -c "import json,sys; q=json.load(sys.stdin); print(q.get('messages_ready', 0) + q.get('messages_unacknowledged', 0))" 2>/dev/null || echo 1)
  [[ "$depth" -eq 0 ]] && break
  sleep 0.5
done
fi

# 6. The bookkeeping path: the same N images from the local folder (LocalFolderStore), so each item costs a file read
#    instead of an Azurite GET: submit → queue → worker (claim, read, inspect, COPY + commit, publish) → coordinator.
t0=$(now)
cli submit --task inspect --input "$IMAGES" --shard-size "$SHARD" --params "$PARAMS" >"$LOGS/submit-local.log" 2>&1 || { cat "$LOGS/submit-local.log"; exit 1; }
say "submit     local folder: list + shard + record + send $N files: $(secs "$t0" "$(now)") s"
job=$(tail -n1 "$LOGS/submit-local.log" | tr -d '[:space:]')

# 7. Wait for the job to finish, then read the timings the database recorded.
deadline=$((SECONDS + 1800))
while :; do
  state=$(psqlb -c "SELECT state FROM jobs WHERE job_id = '$job'")
  [[ "$state" == "running" ]] || break
  [[ $SECONDS -lt $deadline ]] || { say "timed out waiting for job $job"; exit 1; }
  sleep 0.5
done
read -r total ok failed job_s <<<"$(psqlb -F ' ' -c "SELECT total_items, succeeded_items, failed_items,
  extract(epoch FROM finished_at - created_at) FROM jobs WHERE job_id = '$job'")"
read -r work_s <<<"$(psqlb -c "SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM shards WHERE job_id = '$job'")"
read -r decode_ms_sum <<<"$(psqlb -c "SELECT coalesce(sum(decode_ms), 0) FROM inspect_results WHERE job_id = '$job'")"
say "job        $state: $ok succeeded + $failed failed of $total; created → finished $(printf '%.2f' "$job_s") s"
say "workers    first shard claimed → last shard committed: $(printf '%.2f' "$work_s") s"
per_worker=$(awk -v n="$total" -v s="$work_s" -v w="$WORKERS" 'BEGIN { printf "%.0f", n / s / w }')
say "RESULT     inspect $PARAMS end to end: $(rate "$total" "$work_s") items/s, $per_worker items/s per worker (goal >= 5000 for bookkeeping)"
say "           of which decode (sum of inspect_results.decode_ms, on the decode threads): $(awk -v d="$decode_ms_sum" -v n="$total" 'BEGIN { printf "%.1f s, %.3f ms/item", d / 1000, d / n }')"

