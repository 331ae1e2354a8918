#!/usr/bin/env bash
# Install the pinned Gemini CLI into a cache folder (idempotent).
#
# Usage: scripts/install-gemini.sh [DEST]
#   DEST defaults to ${ORC_E2E_DIR:-$HOME/.cache/orc-e2e}/gemini-$VERSION
#   GEMINI_CLI_VERSION overrides the pinned version (tests are pinned to 0.61.0).
# Needs npm and Node >= 20. The last line printed is the absolute path of the
# `gemini` binary.
set -euo pipefail

VERSION="${GEMINI_CLI_VERSION:-0.61.0}"
BASE="${ORC_E2E_DIR:-${HOME:-/root}/.cache/orc-e2e}"
DEST="${1:-$BASE/gemini-$VERSION}"
BIN="$DEST/node_modules/.bin/gemini"

log() { echo "install-gemini: $*" >&2; }

installed_version() {
    [ -x "$BIN" ] || return 1
    # `gemini --version` prints e.g. "0.61.0"
    "$BIN" --version 2>/dev/null | awk 'NR==1{print $1}'
}

if [ "$(installed_version || true)" = "$VERSION" ]; then
    log "gemini $VERSION already installed in $DEST"
else
    command -v npm >/dev/null 2>&1 || { log "npm not found on PATH"; exit 1; }
    mkdir -p "$DEST"
    # A private package.json keeps npm from walking up into some parent project.
    if [ ! -f "$DEST/package.json" ]; then
        printf '{\n  "name": "orc-e2e-gemini",\n  "private": true\n}\n' > "$DEST/package.json"
    fi
    log "installing @google/gemini-cli@$VERSION into $DEST"
    npm install --prefix "$DEST" --no-audit --no-fund --save-exact \
        "@google/gemini-cli@$VERSION" >&2
    got="$(installed_version || true)"
    if [ "$got" != "$VERSION" ]; then
        log "after install, '$BIN --version' gave '${got:-nothing}', expected $VERSION"
        exit 1
    fi
    log "installed gemini $VERSION"
fi

# Absolute path of the binary, last line of output.
echo "$(cd "$(dirname "$BIN")" && pwd)/gemini"
