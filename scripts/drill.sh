#!/usr/bin/env bash
# The main job: a failover drill in network namespaces on the embedded
# default (3 vrrpd nodes + a client probing the VIP every millisecond; each
# fault once; a report of who was master when and the outage). Needs root.
# Extra arguments go to the drill (see `--help`), e.g. --advert-int 0.1 --vrrp-version 3.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p vrrpd -p netns-tests --bins
export VRRPD_BIN="$PWD/target/release/vrrpd"
exec ./target/release/drill "$@"
