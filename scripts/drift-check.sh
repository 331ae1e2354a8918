#!/usr/bin/env bash
# Does orc still work with the Claude Code release users install today?
#
# Usage: scripts/drift-check.sh [TEST_FILTER]
#   Installs the newest @anthropic-ai/claude-code the npm registry serves (or
#   CLAUDE_VERSION=x.y.z) with scripts/install-claude.sh, then runs against it:
#   the Claude e2e tests (tests/e2e_claude.rs, through ORC_CLAUDE_BIN; TEST_FILTER
#   narrows them as `cargo test` would), the fixture replay (every recorded
#   version), whether fixtures of that version are recorded, and
#   `orc doctor --live claude`. Prints a table; exits 1 if any check failed.
#   Logs: target/drift-check/<version>/.
set -uo pipefail
cd "$(dirname "$0")/.."

say() { echo "drift-check: $*" >&2; }

pinned="$(sed -n 's/^const CLAUDE_VERSION: &str = "\(.*\)";/\1/p' tests/e2e_claude.rs)"
version="${CLAUDE_VERSION:-}"
if [ -z "$version" ]; then
    command -v npm >/dev/null 2>&1 || { say "npm not found on PATH: install Node.js and npm"; exit 1; }
    version="$(npm view @anthropic-ai/claude-code version 2>/dev/null)" || true
    [ -n "$version" ] || { say "npm view @anthropic-ai/claude-code version gave nothing (registry unreachable?)"; exit 1; }
    what="newest on npm"
else
    what="CLAUDE_VERSION"
fi
logs="target/drift-check/$version"
mkdir -p "$logs"

say "installing Claude Code $version"
if ! bin="$(CLAUDE_CODE_VERSION="$version" bash scripts/install-claude.sh 2>"$logs/install.log" | tail -n 1)" || [ ! -x "$bin" ]; then
    say "installing $version failed; see $logs/install.log"
    tail -n 5 "$logs/install.log" >&2
    exit 1
fi
say "claude: $bin ($("$bin" --version 2>/dev/null | head -n 1))"

say "building orc"
if ! cargo build --locked >"$logs/build.log" 2>&1; then
    say "cargo build failed; see $logs/build.log"
    tail -n 20 "$logs/build.log" >&2
    exit 1
fi

rows=()   # "check<TAB>result<TAB>detail"
add() { rows+=("$1"$'\t'"$2"$'\t'"${3:-}"); }

# The panic message of a failed test (its first line, without the ps dump),
# and the dialog an agent was stuck at, if the dump shows one.
why() {
    local msg dialog
    msg="$(awk -v t="$1" 'index($0, "thread '"'"'" t "'"'"'") && /panicked at/ { getline; print; exit }' "$2")"
    dialog="$(printf '%s' "$msg" | grep -o 'dialog: [a-z_]*' | head -n 1)"
    msg="$(printf '%s' "$msg" | sed 's/; ps: .*//' | cut -c1-100)"
    echo "${msg:-see $2}${dialog:+ (agent at $dialog)}"
}

# cargo test output -> one row per test.
tests_to_rows() {
    local prefix="$1" log="$2" n=0
    while IFS= read -r line; do
        case "$line" in
            "test "*" ... ok") t="${line#test }"; add "$prefix${t% ... ok}" pass; n=$((n + 1)) ;;
            "test "*" ... FAILED")
                t="${line#test }"; t="${t% ... FAILED}"
                add "$prefix$t" FAIL "$(why "$t" "$log")"; n=$((n + 1)) ;;
        esac
    done <"$log"
    [ "$n" -gt 0 ] || add "${prefix}(no test ran)" FAIL "see $log"
}

say "e2e tests against $version (several minutes)"
ORC_CLAUDE_BIN="$bin" cargo test --locked --test e2e_claude -- ${1:+"$1"} >"$logs/e2e.log" 2>&1
tests_to_rows "e2e: " "$logs/e2e.log"

say "fixture replay"
cargo test --locked --test fixtures_replay >"$logs/fixtures.log" 2>&1
tests_to_rows "fixture replay: " "$logs/fixtures.log"
if [ -d "fixtures/claude-code/$version" ]; then
    add "fixtures recorded for $version" pass "fixtures/claude-code/$version"
else
    add "fixtures recorded for $version" FAIL "no fixtures/claude-code/$version (record: cargo run --example record_claude)"
fi

say "orc doctor --live claude"
home="$(mktemp -d)"
printf '[profiles.claude]\ncommand = "%s"\nargs = ["--dangerously-skip-permissions"]\n' "$bin" >"$home/config.toml"
ORC_HOME="$home" target/debug/orc doctor --live claude >"$logs/doctor.log" 2>&1
doctor_rc=$?
rm -rf "$home"
result="$(sed -n 's/^result: //p' "$logs/doctor.log" | head -n 1)"
if [ "$doctor_rc" -eq 0 ]; then
    add "orc doctor --live claude" pass "$result"
else
    add "orc doctor --live claude" FAIL "${result:-exit $doctor_rc, see $logs/doctor.log}"
fi

# The table.
w=5
for r in "${rows[@]}"; do c="${r%%$'\t'*}"; [ ${#c} -gt $w ] && w=${#c}; done
echo
echo "drift check: Claude Code $version ($what; orc's e2e tests pin ${pinned:-?})"
printf "%-${w}s  %-6s %s\n" CHECK RESULT DETAIL
failed=0 passed=0
for r in "${rows[@]}"; do
    IFS=$'\t' read -r c res d <<<"$r"
    printf "%-${w}s  %-6s %s\n" "$c" "$res" "$d"
    if [ "$res" = pass ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed (logs: $logs/)"
[ "$failed" -eq 0 ]
