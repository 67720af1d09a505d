#!/usr/bin/env bash
# Screenshots Bull Board with one finished and one running job into docs/en/images/:
#   bull-board.png            the queue's "Latest" view: both jobs
#   bull-board-active.png     the "Active" tab: the running job
#   bull-board-completed.png  the "Completed" tab: the finished job
# Starts the demo (`--stay --slow-second-task`: the sample task, then a second one whose scripted
# model pauses) under a fresh REDIS_PREFIX, waits until the board has one completed and one active
# job, shoots the pages with headless Chromium, then stops the demo and deletes its Redis keys.
# Needs a built tree (npm run build), Redis as for npm run demo, redis-cli, and /usr/bin/chromium
# (installed with apt-get when missing).
#
#   scripts/screenshot-board.sh [OUTPUT_DIR]      default OUTPUT_DIR: docs/en/images
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
outdir="${1:-$root/docs/en/images}"
prefix="wegent-codex-shot-$$-$(date +%s)"
task_id="$(date +%s)"
log="$root/.data/demo/screenshot-$task_id.log"
redis_url="${REDIS_URL:-redis://127.0.0.1:6379}"
chromium=/usr/bin/chromium
queue=codex-tasks

fail() { echo "screenshot-board.sh: $*" >&2; exit 1; }

# 1. Chromium.
if [[ ! -x "$chromium" ]]; then
  echo "installing chromium (apt-get)…"
  if ! { command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]] &&
    { DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null ||
      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null; }; }; }; then
    echo "screenshot-board.sh: $chromium is missing and could not be installed (needs root and apt-get: apt-get install -y chromium)" >&2
    exit 2
  fi
  [[ -x "$chromium" ]] || { echo "screenshot-board.sh: apt-get installed chromium but $chromium is still missing" >&2; exit 2; }
fi
command -v redis-cli >/dev/null || { echo "screenshot-board.sh: redis-cli is not installed (apt-get install -y redis-tools)" >&2; exit 2; }
[[ -f "$root/dist/scripts/demo.js" ]] || { echo "screenshot-board.sh: run npm run build first" >&2; exit 2; }
mkdir -p "$outdir" "$root/.data/demo"

demo_pid=""
profiles=()
cleanup() {
  local code=$?
  if [[ -n "$demo_pid" ]] && kill -0 "$demo_pid" 2>/dev/null; then
    kill -INT "$demo_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.2; done   # 20 s
    if kill -0 "$demo_pid" 2>/dev/null; then
      echo "screenshot-board.sh: the demo did not stop within 20 s; killing PID $demo_pid" >&2
      kill -KILL "$demo_pid" 2>/dev/null || true
    fi
    wait "$demo_pid" 2>/dev/null || true
  fi
  for dir in "${profiles[@]}"; do rm -rf "$dir"; done
  if redis-cli -u "$redis_url" ping >/dev/null 2>&1; then
    redis-cli -u "$redis_url" --scan --pattern "$prefix:*" | xargs -r -n 200 redis-cli -u "$redis_url" del >/dev/null
    echo "deleted the Redis keys under $prefix:"
  else
    echo "screenshot-board.sh: Redis at $redis_url no longer answers; keys under $prefix: not deleted" >&2
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 2. The demo: the sample task, then the slow one; it stays up until we stop it.
echo "starting the demo (REDIS_PREFIX=$prefix, log $log)"
(cd "$root" && REDIS_PREFIX="$prefix" SHUTDOWN_GRACE_MS=2000 exec node dist/scripts/demo.js --stay --slow-second-task --task-id "$task_id") >"$log" 2>&1 &
demo_pid=$!

board=""
for _ in $(seq 1 600); do   # 120 s
  kill -0 "$demo_pid" 2>/dev/null || fail "the demo exited early; see $log"
  if grep -q '(slow: ' "$log"; then
    board="$(grep -o 'http://[^ ]*/admin/queues' "$log" | head -n 1)"
    break
  fi
  sleep 0.2
done
[[ -n "$board" ]] || fail "the demo did not reach its second task within 120 s; see $log"
grep -q '→ 20[0-9].*(slow: ' "$log" || fail "the second task was not accepted; see $log"
echo "board: $board"

# 3. Wait for one completed and one active job.
counts() {
  curl -fsS "$board/api/queues?activeQueue=$queue&status=latest&page=1&jobsPerPage=10" 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const q=JSON.parse(s).queues.find(q=>q.name===process.argv[1]);process.stdout.write(q?`${q.counts.completed} ${q.counts.active}\n`:"0 0\n")})' "$queue" ||
    echo "0 0"
}
ready=""
for _ in $(seq 1 150); do   # 30 s
  read -r completed active < <(counts)
  if [[ "$completed" -ge 1 && "$active" -ge 1 ]]; then ready=1; break; fi
  sleep 0.2
done
[[ -n "$ready" ]] || fail "the board never showed a completed and an active job (last: completed=$completed active=$active)"
echo "board state: completed=$completed active=$active"
sleep 2   # the running job's progress moves past "cloning"

# 4. Screenshots.
shoot() {
  local url="$1" file="$2" profile
  profile="$(mktemp -d)"
  profiles+=("$profile")
  rm -f "$file"
  timeout --kill-after=5 60 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$profile" \
    --window-size=1400,900 --virtual-time-budget=5000 --screenshot="$file" "$url" >>"$log" 2>&1 || true
  [[ -s "$file" ]] || fail "chromium wrote no screenshot for $url; see $log"
  echo "wrote $file  ($url)"
}
shoot "$board/queue/$queue" "$outdir/bull-board.png"
shoot "$board/queue/$queue?status=active" "$outdir/bull-board-active.png"
shoot "$board/queue/$queue?status=completed" "$outdir/bull-board-completed.png"

# Both jobs must still be in their states, or the pictures show something else.
read -r completed active < <(counts)
[[ "$completed" -ge 1 && "$active" -ge 1 ]] || fail "the jobs changed state while shooting (completed=$completed active=$active); run again"

# 5. The EXIT trap stops the demo and deletes the Redis keys.
