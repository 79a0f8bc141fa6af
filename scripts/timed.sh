#!/usr/bin/env bash
# Runs one step of a make target and reports how long it took (scripts/lib/timing.sh).
#
# Usage: scripts/timed.sh <step name> <command...>
set -euo pipefail
# shellcheck source=scripts/lib/timing.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/timing.sh"

name=$1
shift
printf '\n==> %s\n' "$name"
start=$(timing_now)
status=0
"$@" || status=$?
seconds=$(timing_since "$start")
timing_record "$name$( ((status == 0)) || printf ' (FAILED)')" "$seconds"
printf '==> %s: %s s\n' "$name" "$seconds"
exit "$status"
