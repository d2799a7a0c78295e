#!/usr/bin/env bash
# Installs every Debian 12 package keydesk needs to build, run the demo and run its tests.
# Idempotent: packages already present are skipped, and `apt-get update` runs at most once.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libldap-dev libssl-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libtomlplusplus-dev libcli11-dev libsqlite3-dev libarchive-dev
  slapd ldap-utils openssl curl python3 procps psmisc
  # fault tests: a loop-mounted ext4 (mkfs, e2fsck), setpriv, findmnt
  e2fsprogs util-linux mount
  # Samba's AD DC, for the tests that need true AD semantics
  samba samba-ad-dc samba-ad-provision winbind krb5-user ldb-tools
  # headless Chromium for the browser tests (driven by playwright-core from npm)
  chromium fonts-dejavu-core
  # clang and libFuzzer: the sanitizer build, with the fuzz harnesses
  clang libclang-rt-14-dev
)
# Node.js and npm: this machine kind may ship Node.js already; use Debian's otherwise.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  # slapd's postinst would start a system-wide slapd; we only want its binaries.
  echo 'slapd slapd/no_configuration boolean true' | "${as_root[@]}" debconf-set-selections
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian starts the system slapd on install; keydesk runs its own private instances.
  if command -v systemctl >/dev/null && systemctl is-active --quiet slapd 2>/dev/null; then
    "${as_root[@]}" systemctl stop slapd || true
  fi
fi
