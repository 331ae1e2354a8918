#!/usr/bin/env bash
# Install the pinned Aider CLI (PyPI `aider-chat`) into a virtualenv in a
# cache folder (idempotent: a venv that already runs the pinned version is
# kept as it is).
#
# Usage: scripts/install-aider.sh [DEST]
#   DEST defaults to ${ORC_E2E_DIR:-$HOME/.cache/orc-e2e}/aider-$VERSION
#   AIDER_VERSION overrides the pinned version (tests are pinned to 0.86.2).
#   PYTHON names the interpreter the venv is made from (default python3;
#   aider-chat 0.86.x needs Python 3.10-3.12).
# The last line printed is the absolute path of the `aider` binary; the
# tests honour ORC_AIDER_BIN instead of running this.
set -euo pipefail

VERSION="${AIDER_VERSION:-0.86.2}"
BASE="${ORC_E2E_DIR:-${HOME:-/root}/.cache/orc-e2e}"
DEST="${1:-$BASE/aider-$VERSION}"
BIN="$DEST/bin/aider"
PY="${PYTHON:-python3}"

log() { echo "install-aider: $*" >&2; }

installed_version() {
    [ -x "$BIN" ] || return 1
    # `aider --version` prints e.g. "aider 0.86.2"
    "$BIN" --version 2>/dev/null | awk 'NR==1{print $NF}'
}

if [ "$(installed_version || true)" = "$VERSION" ]; then
    log "aider $VERSION already installed in $DEST"
else
    command -v "$PY" >/dev/null 2>&1 || { log "$PY not found on PATH"; exit 1; }
    if [ ! -x "$DEST/bin/pip" ]; then
        log "creating a virtualenv in $DEST with $("$PY" --version 2>&1)"
        "$PY" -m venv "$DEST"
    fi
    log "installing aider-chat==$VERSION into $DEST"
    "$DEST/bin/pip" install --quiet --disable-pip-version-check \
        "aider-chat==$VERSION" >&2
    got="$(installed_version || true)"
    if [ "$got" != "$VERSION" ]; then
        log "after install, '$BIN --version' gave '${got:-nothing}', expected $VERSION"
        exit 1
    fi
    log "installed aider $VERSION"
fi

# Absolute path of the binary, last line of output.
echo "$(cd "$(dirname "$BIN")" && pwd)/aider"
