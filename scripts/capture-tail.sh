#!/usr/bin/env bash
# Records what `wegent-codex tail` shows during a real run (the demo: real Codex CLI, scripted
# model, local git repository) into docs/en/images/tail.txt: a frame while the answer streams and
# the final screen. Runs `tail --wait` in a detached tmux pane, then starts the demo with the same
# task id. Needs tmux, a built tree (npm run build) and Redis (as for npm run demo).
#
#   scripts/capture-tail.sh [OUTPUT]      default OUTPUT: docs/en/images/tail.txt
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
output="${1:-$root/docs/en/images/tail.txt}"
session="wegent-codex-tail-$$"
prefix="${REDIS_PREFIX:-wegent-codex-demo}"
task_id="$(date +%s)"
log="$root/.data/demo/capture-$task_id.log"

command -v tmux >/dev/null || { echo "capture-tail.sh: tmux is not installed" >&2; exit 2; }
[[ -f "$root/dist/scripts/demo.js" && -f "$root/dist/apps/cli/src/main.js" ]] || { echo "capture-tail.sh: run npm run build first" >&2; exit 2; }
mkdir -p "$(dirname "$output")" "$root/.data/demo"

demo_pid=""
cleanup() {
  tmux kill-session -t "$session" 2>/dev/null || true
  if [[ -n "$demo_pid" ]] && kill -0 "$demo_pid" 2>/dev/null; then kill -INT "$demo_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

# A plain shell with a short prompt: the capture reads like an operator's terminal.
tmux new-session -d -s "$session" -x 110 -y 45 -c "$root" \
  "env -i HOME=\"$HOME\" PATH=\"$PATH\" TERM=xterm REDIS_PREFIX=$prefix ${REDIS_URL:+REDIS_URL=$REDIS_URL} PS1='$ ' bash --norc --noprofile"
sleep 0.5
tmux send-keys -t "$session" 'wegent-codex() { node dist/apps/cli/src/main.js "$@"; }; clear' Enter
sleep 0.5
tmux send-keys -t "$session" "wegent-codex tail --wait $task_id 1; echo \"[exit \$?]\"" Enter
sleep 1

(cd "$root" && REDIS_PREFIX="$prefix" exec node dist/scripts/demo.js --task-id "$task_id") >"$log" 2>&1 &
demo_pid=$!

streaming=""
final=""
for _ in $(seq 1 300); do
  frame="$(tmux capture-pane -p -J -t "$session")"
  # The last frame with part of the final answer: the run as it streams.
  if [[ "$frame" =~ \[exit\ [0-9]+\] ]]; then final="$frame"; break; fi
  if [[ "$frame" == *"» The repository"* && "$frame" != *"nothing to fix"* ]]; then streaming="$frame"; fi
  sleep 0.2
done
wait "$demo_pid" || { echo "capture-tail.sh: the demo failed; see $log" >&2; exit 1; }
demo_pid=""
[[ -n "$final" ]] || { echo "capture-tail.sh: tail did not finish within 60 s" >&2; exit 1; }

trim() { sed -e 's/[[:space:]]*$//' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }
{
  echo "# wegent-codex tail, captured from tmux by scripts/capture-tail.sh during npm run demo"
  echo "# (real Codex CLI $(node -p "require('$root/node_modules/@openai/codex/package.json').version"), scripted model, local git repository)"
  if [[ -n "$streaming" ]]; then
    echo
    echo "## while the answer streams"
    echo
    printf '%s\n' "$streaming" | trim
  fi
  echo
  echo "## at the end"
  echo
  printf '%s\n' "$final" | trim
} >"$output"
echo "wrote $output"
