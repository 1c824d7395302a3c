#!/usr/bin/env bash
# Runs every check of the project: installs what the tests need (nftables:
# the accept-mode test reads vrrpd's sets with nft), then fmt,
# clippy and all tests (unit, simulation, netns drills, keepalived interop).
# Needs root for the namespace tests; in CI (CI=true) they must run and pass.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
for pair in keepalived:keepalived tcpdump:tcpdump ip:iproute2 systemd-analyze:systemd haproxy:haproxy nft:nftables ethtool:ethtool ; do
    cmd=${pair%%:*}; pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "== installing ${need_pkgs[*]}"
        # Packages like haproxy start a system service on install; the
        # tests start their own instances and nothing else may run.
        own_policy=
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
            own_policy=1
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
        [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
    else
        echo "== not root: cannot install ${need_pkgs[*]}; tests that need them will say so"
    fi
fi
# The Debian package starts keepalived as a service on install: we never want
# a system keepalived sending adverts or logging to the console during tests.
if command -v systemctl >/dev/null 2>&1; then
    systemctl stop keepalived haproxy >/dev/null 2>&1 || true
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo build"
cargo build --workspace --bins
echo "== cargo test"
# The netns tests run this exact build of the daemon.
export VRRPD_BIN="$PWD/target/debug/vrrpd"
cargo test --workspace -- --test-threads=2
