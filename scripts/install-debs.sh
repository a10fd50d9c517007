#!/usr/bin/env bash
# Install Debian packages the project needs (haproxy, nginx, ...):
#   scripts/install-debs.sh haproxy [nginx-light ...]
# Idempotent and quiet: packages already installed are skipped, `apt-get
# update` runs at most once (only when something must be installed), and any
# failure ends with one line on stderr naming what failed, and exit status 1.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "install-debs.sh: usage: install-debs.sh PACKAGE..." >&2
  exit 2
fi

missing=()
for pkg in "$@"; do
  case "$pkg" in
    *[!a-z0-9.+-]*|"") echo "install-debs.sh: $pkg: not a Debian package name" >&2; exit 2 ;;
  esac
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-debs.sh: apt-get not found: install ${missing[*]} with this system's package manager" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
    echo "install-debs.sh: not root and no sudo: run as root to install ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
updated=0
update() {
  if ! "${sudo[@]}" apt-get update -qq >"$log" 2>&1; then
    echo "install-debs.sh: apt-get update failed: $(tail -n 1 "$log")" >&2
    exit 1
  fi
  updated=1
}
install() { "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; }
# Update the lists only if apt does not know a missing package yet (a fresh
# image has no lists), or if an install from stale lists failed.
for pkg in "${missing[@]}"; do
  if ! apt-cache show "$pkg" >/dev/null 2>&1; then update; break; fi
done
if ! install; then
  if [ "$updated" -eq 1 ] || { update; ! install; }; then
    echo "install-debs.sh: apt-get install ${missing[*]} failed: $( (grep -E '^E:' "$log" || tail -n 1 "$log") | tail -n 1)" >&2
    exit 1
  fi
fi
