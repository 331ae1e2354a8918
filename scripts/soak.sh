#!/usr/bin/env bash
# The soak (issue 14): a team of real Claude Code agents under a private orc
# supervisor, against the API stand-in, for a 24-hour working day compressed
# into MINUTES (default 60), with the day's faults injected on a fixed seed.
#
#   scripts/soak.sh [MINUTES]
#   SOAK_SEED=7 SOAK_AGENTS=5 SOAK_CLAUDE_BIN=/path/to/claude scripts/soak.sh 10
#
# Prints the table and writes target/soak/<stamp>/{report.json,soak.svg,
# turns.jsonl,actions.jsonl,state/} and docs/soak.svg. Settings:
# benches/soak.rs. Private ORC_HOME and tmux server (`tmux -L
# orc-bench-<pid>-soak`), both removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_MINUTES="${1:-${SOAK_MINUTES:-60}}"
if [ -z "${SOAK_CLAUDE_BIN:-}${ORC_CLAUDE_BIN:-}" ]; then
  # the pinned version the e2e tests use (cached after the first install)
  SOAK_CLAUDE_BIN="$(bash scripts/install-claude.sh | tail -1)"
  export SOAK_CLAUDE_BIN
fi
exec cargo bench --locked --bench soak
