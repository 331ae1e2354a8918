#!/usr/bin/env bash
# Install the pinned Claude Code CLI into a cache folder (idempotent).
#
# Usage: scripts/install-claude.sh [DEST]
#   DEST defaults to ${ORC_E2E_DIR:-$HOME/.cache/orc-e2e}/claude-$VERSION
#   CLAUDE_CODE_VERSION overrides the pinned version (tests are pinned to 2.1.332; the short legacy check uses 2.1.197).
# The last line printed is the absolute path of the `claude` binary.
set -euo pipefail

VERSION="${CLAUDE_CODE_VERSION:-2.1.332}"
BASE="${ORC_E2E_DIR:-${HOME:-/root}/.cache/orc-e2e}"
DEST="${1:-$BASE/claude-$VERSION}"
BIN="$DEST/node_modules/.bin/claude"

log() { echo "install-claude: $*" >&2; }

installed_version() {
    [ -x "$BIN" ] || return 1
    # `claude --version` prints e.g. "2.1.197 (Claude Code)"
    DISABLE_AUTOUPDATER=1 "$BIN" --version 2>/dev/null | awk 'NR==1{print $1}'
}

if [ "$(installed_version || true)" = "$VERSION" ]; then
    log "claude $VERSION already installed in $DEST"
else
    command -v npm >/dev/null 2>&1 || { log "npm not found on PATH"; exit 1; }
    mkdir -p "$DEST"
    # A private package.json keeps npm from walking up into some parent project.
    if [ ! -f "$DEST/package.json" ]; then
        printf '{\n  "name": "orc-e2e-claude",\n  "private": true\n}\n' > "$DEST/package.json"
    fi
    log "installing @anthropic-ai/claude-code@$VERSION into $DEST"
    npm install --prefix "$DEST" --no-audit --no-fund --save-exact \
        "@anthropic-ai/claude-code@$VERSION" >&2
    got="$(installed_version || true)"
    if [ "$got" != "$VERSION" ]; then
        log "after install, '$BIN --version' gave '${got:-nothing}', expected $VERSION"
        exit 1
    fi
    log "installed claude $VERSION"
fi

# Absolute path of the binary, last line of output.
echo "$(cd "$(dirname "$BIN")" && pwd)/claude"
