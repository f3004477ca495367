/**
 * How kiln reaches a step's processes, which the Docker API cannot signal.
 *
 * Every step runs under a small POSIX-shell wrapper, started as the exec's command. Docker makes each
 * exec's first process the leader of its own session and process group, so the group holds exactly the
 * step and what it starts (a neighbouring step, in its own exec, is in another group). The wrapper:
 *
 * 1. exports the environment variables that carry secrets, reading them from their files on the tmpfs
 *    (so a secret's value is never in an exec's config or argv);
 * 2. starts the step in the background with stdin from /dev/null, and only then traps TERM/INT/HUP
 *    itself, so that it survives the signals it relays and can report the step's own exit code. (Trapping
 *    before the fork would let a TERM that arrives between fork and exec hit the inherited handler and
 *    be lost when exec resets it; this way the step has the default disposition from the start.) The
 *    watcher below starts after the trap, so the wrapper is protected before any signal is relayed;
 * 3. runs a watcher that reads control lines from the exec's stdin, which kiln keeps open:
 *    `TERM` sends SIGTERM to the group and starts the grace period, after which the whole group gets
 *    SIGKILL, whoever is left in it; `KILL` sends SIGKILL to it now (the wrapper dies too: exit 137).
 *    When stdin reaches EOF, kiln is gone (the engine closes an exec's stdin when its client
 *    disconnects): the watcher sends SIGTERM, waits the grace period, removes the step's secret files
 *    (the paths kiln gave it), then sends SIGKILL to the group, so a dead kiln never leaves steps
 *    running nor their secrets behind. The watcher's output goes to /dev/null: it holds none of the
 *    step's output pipes, so the exec's stream ends with the wrapper;
 * 4. waits for the step (again after each relayed signal) and exits with its exit code. Once a TERM has
 *    reached the group the watcher is left running: the step's main process may be gone while a child
 *    that ignores TERM lives on, and the KILL after the grace period is still owed to it.
 *
 * It works on any image with `/bin/sh`, and on a remote engine, since everything travels over the exec's
 * own attach stream. If the engine does not end the exec after KILL, the runtime stops the container.
 */

export const STEP_WRAPPER = `files=$1; n=$2; shift 2
while [ "$n" -gt 0 ]; do
  v=$(cat "\${1#*=}") || { echo "kiln: cannot read the secret for \${1%%=*} as this user" >&2; exit 125; }
  export "\${1%%=*}=$v"
  shift; n=$((n - 1))
done
exec 3<&0
"$@" </dev/null &
child=$!
termed=
trap 'termed=1' TERM INT HUP
(
  trap '' TERM INT HUP
  timer=
  while IFS= read -r cmd; do
    case $cmd in
      TERM)
        kill -TERM 0
        if [ -z "$timer" ]; then timer=1; (sleep "$KILN_GRACE_S"; kill -KILL 0) & fi ;;
      KILL) kill -KILL 0 ;;
    esac
  done
  kill -TERM 0
  sleep "$KILN_GRACE_S"
  if [ -n "$files" ]; then
    set -f; IFS='
'
    for f in $files; do rm -f "$f"; done
  fi
  kill -KILL 0
) <&3 >/dev/null 2>&1 &
watcher=$!
exec 3<&-
while :; do
  wait "$child"
  rc=$?
  if [ "$rc" -gt 128 ] && kill -0 "$child" 2>/dev/null; then continue; fi
  break
done
if [ "$rc" -gt 128 ]; then wait "$child" 2>/dev/null; r=$?; [ "$r" -ne 127 ] && rc=$r; fi
[ -n "$termed" ] || kill -KILL "$watcher" 2>/dev/null
exit "$rc"`;

/** Control lines the wrapper understands on its stdin. */
export const Control = { term: 'TERM\n', kill: 'KILL\n' } as const;

export interface WrappedCommand {
  /** The step's argv. */
  readonly argv: readonly string[];
  /** Environment variables whose values the wrapper reads from files (secrets): name -> path in the container. */
  readonly envFromFiles?: Readonly<Record<string, string>>;
  /**
   * Files the wrapper removes when kiln is gone (the step's secret files and links), before the final
   * KILL. A path with a newline cannot be passed and is left to kiln's own clean-up.
   */
  readonly removeWhenAbandoned?: readonly string[];
}

/** The exec argv that runs a step under the wrapper. */
export function wrapStep(command: WrappedCommand): string[] {
  const pairs = Object.entries(command.envFromFiles ?? {}).map(([name, path]) => `${name}=${path}`);
  const files = (command.removeWhenAbandoned ?? []).filter((p) => p !== '' && !p.includes('\n'));
  return [
    '/bin/sh',
    '-c',
    STEP_WRAPPER,
    'kiln-step',
    files.join('\n'),
    String(pairs.length),
    ...pairs,
    ...command.argv,
  ];
}
