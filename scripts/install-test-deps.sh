#!/usr/bin/env bash
# Installs what the tests need from Debian (bookworm): Open vSwitch 3.1, run in
# userspace by test/ovs/harness.ts as the reference for differential tests,
# and the packet tools that tests and benchmarks compare against.
#
# Idempotent: when every package is already installed it does nothing (and
# needs neither root nor the network). Otherwise, as root, it runs
# `apt-get update` once and installs the missing packages.
#
# It never starts the system's Open vSwitch: the package's postinst asks
# invoke-rc.d to start openvswitch-switch, so for the install a policy-rc.d
# that answers 101 ("action forbidden") is put in place, and whatever
# policy-rc.d was there before (Docker images ship one) is put back after.
# The tests start their own private daemons instead.
#
# Quiet: apt's output goes to a log that is printed only when a step fails.
set -euo pipefail

# Each of these exists in bookworm (checked with apt-cache policy).
PACKAGES=(
  openvswitch-switch # ovs-vswitchd, ovsdb-server, ovs-vsctl; pulls openvswitch-common (ovs-ofctl, ovs-appctl, ovsdb-tool)
  iproute2
  tcpdump
  tshark
  netsniff-ng
  iputils-ping
  netcat-openbsd
)

missing=()
for package in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done
# The package may be installed while a binary was removed by hand.
if ! command -v ovs-vswitchd >/dev/null 2>&1 && [[ ! -x /usr/sbin/ovs-vswitchd ]]; then
  if [[ ! " ${missing[*]} " == *" openvswitch-switch "* ]]; then
    missing+=(openvswitch-switch)
  fi
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi

if ((EUID != 0)); then
  echo "install-test-deps: missing ${missing[*]}; run this script as root" >&2
  exit 1
fi

log=$(mktemp /tmp/install-test-deps.XXXXXX.log)
policy=/usr/sbin/policy-rc.d
policy_saved=""

restore_policy() {
  if [[ -n "$policy_saved" ]]; then
    mv -f "$policy_saved" "$policy"
  else
    rm -f "$policy"
  fi
}

fail() {
  echo "install-test-deps: $1 failed; its output:" >&2
  cat "$log" >&2
  exit 1
}

if [[ -e "$policy" ]]; then
  policy_saved=$(mktemp "$policy.saved.XXXXXX")
  cp -p "$policy" "$policy_saved"
fi
trap 'restore_policy; rm -f "$log"' EXIT
printf '#!/bin/sh\n# install-test-deps.sh: start no service during the install.\nexit 101\n' >"$policy"
chmod 755 "$policy"

# A system vswitchd that was not running before must not be running after.
system_pidfile=/run/openvswitch/ovs-vswitchd.pid
system_running() { [[ -s "$system_pidfile" ]] && kill -0 "$(cat "$system_pidfile")" 2>/dev/null; }
system_running_before=no
if system_running; then system_running_before=yes; fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >"$log" 2>&1 || fail "apt-get update"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
  || fail "apt-get install ${missing[*]}"

command -v ovs-vsctl >/dev/null 2>&1 || fail "installing Open vSwitch (ovs-vsctl not found)"
if [[ "$system_running_before" == no ]] && system_running; then
  echo "install-test-deps: the install started the system Open vSwitch; stopping it" >&2
  /usr/share/openvswitch/scripts/ovs-ctl stop >>"$log" 2>&1 || fail "ovs-ctl stop"
fi
echo "install-test-deps: installed ${missing[*]}"
