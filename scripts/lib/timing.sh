# Step timings, so a slow step is visible: sourced by scripts/setup.sh, scripts/dev.sh,
# scripts/timed.sh and .ci/run. A step's time is printed when it ends and, when
# EDGEAUTH_TIMINGS names a file, appended to it as "<step>\t<seconds>" for a table at the end.

# Seconds since the epoch with a fractional part (bash 5's EPOCHREALTIME; the locale's
# decimal separator is normalised to a dot).
timing_now() { printf '%s' "${EPOCHREALTIME/,/.}"; }

# timing_since <start>: seconds elapsed, one decimal.
timing_since() { awk -v a="$1" -v b="$(timing_now)" 'BEGIN { printf "%.1f", b - a }'; }

# timing_record <step> <seconds>
timing_record() {
  [[ -z ${EDGEAUTH_TIMINGS:-} ]] || printf '%s\t%s\n' "$1" "$2" >>"$EDGEAUTH_TIMINGS"
}

# timing_table <title> [<wall seconds>]: the recorded steps in order. Steps may overlap (some
# run side by side), so the wall time is given separately rather than summed.
timing_table() {
  [[ -n ${EDGEAUTH_TIMINGS:-} && -s $EDGEAUTH_TIMINGS ]] || return 0
  printf '\n%s\n' "$1"
  awk -F'\t' '{ printf "  %-62s %7.1f s\n", $1, $2 }' "$EDGEAUTH_TIMINGS"
  [[ -z ${2:-} ]] || printf '  %-62s %7.1f s\n' "total (wall clock)" "$2"
}
