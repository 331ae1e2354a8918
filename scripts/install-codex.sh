#!/usr/bin/env bash
# Install the pinned Codex CLI (npm @openai/codex) into a cache folder (idempotent).
#
# Usage: scripts/install-codex.sh [DEST]
#   DEST defaults to ${ORC_E2E_DIR:-$HOME/.cache/orc-e2e}/codex-$VERSION
#   CODEX_VERSION overrides the pinned version (tests are pinned to 0.171.0).
# The last line printed is the absolute path of the `codex` binary.
set -euo pipefail

VERSION="${CODEX_VERSION:-0.171.0}"
BASE="${ORC_E2E_DIR:-${HOME:-/root}/.cache/orc-e2e}"
DEST="${1:-$BASE/codex-$VERSION}"
BIN="$DEST/node_modules/.bin/codex"

log() { echo "install-codex: $*" >&2; }

installed_version() {
    [ -x "$BIN" ] || return 1
    # `codex --version` prints e.g. "codex-cli 0.171.0"
    "$BIN" --version 2>/dev/null | awk 'NR==1{print $NF}'
}

if [ "$(installed_version || true)" = "$VERSION" ]; then
    log "codex $VERSION already installed in $DEST"
else
    command -v npm >/dev/null 2>&1 || { log "npm not found on PATH"; exit 1; }
    mkdir -p "$DEST"
    # A private package.json keeps npm from walking up into some parent project.
    if [ ! -f "$DEST/package.json" ]; then
        printf '{\n  "name": "orc-e2e-codex",\n  "private": true\n}\n' > "$DEST/package.json"
    fi
    log "installing @openai/codex@$VERSION into $DEST"
    npm install --prefix "$DEST" --no-audit --no-fund --save-exact \
        "@openai/codex@$VERSION" >&2
    got="$(installed_version || true)"
    if [ "$got" != "$VERSION" ]; then
        log "after install, '$BIN --version' gave '${got:-nothing}', expected $VERSION"
        exit 1
    fi
    log "installed codex $VERSION"
fi

# Absolute path of the binary, last line of output.
echo "$(cd "$(dirname "$BIN")" && pwd)/codex"
