#!/usr/bin/env bash
# Records the live view of a real run of the example project in a pseudo-terminal (tmux) and prints
# frames captured during the run and the final screen, as they appear in the README's tour.
# Needs what scripts/example.sh sets up (dependencies, build, engine, fixture images) and tmux.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tmux >/dev/null || { echo "record-tour: tmux is needed (apt-get install tmux)" >&2; exit 3; }
session=kiln-tour-$$
socket=kiln-tour-$$
trap 'tmux -L "$socket" kill-server 2>/dev/null || true' EXIT
export EXAMPLE_PUBLISH_TOKEN=${EXAMPLE_PUBLISH_TOKEN:-example-token-123}
tmux -L "$socket" new-session -d -s "$session" -x "${COLUMNS_TOUR:-96}" -y 30 \
  "env EXAMPLE_PUBLISH_TOKEN=$EXAMPLE_PUBLISH_TOKEN node bin/kiln.js run -f fixtures/example/kiln.yaml --progress tty; echo '[exit '\$?']'; sleep 30"
frame=0
for _ in $(seq 1 60); do
  sleep 0.25
  screen=$(tmux -L "$socket" capture-pane -p -t "$session")
  if grep -q '^\[exit' <<<"$screen"; then break; fi
  if grep -q 'running\|▶\|⠋\|⠙\|⠹\|⠸\|⠼\|⠴\|⠦\|⠧\|⠇\|⠏' <<<"$screen" && [[ $frame -lt 1 ]]; then
    frame=$((frame + 1))
    printf -- '--- during the run ---\n%s\n' "$(sed -e '/^$/d' <<<"$screen")"
  fi
done
printf -- '--- at the end ---\n%s\n' "$(sed -e '/^$/d' <<<"$screen")"
