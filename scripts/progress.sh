# Sourced by the install, build and cluster scripts: one progress line per step, with the time it took, so a cold
# build (20 minutes and more) shows where it is.

# timed NAME COMMAND...: runs COMMAND, then prints "[ 1m05s] NAME" (or "... failed") to stderr; keeps its exit code.
timed() {
  local name="$1" start=$SECONDS code=0
  shift
  "$@" || code=$?
  local took=$((SECONDS - start))
  printf '[%2dm%02ds] %s%s\n' $((took / 60)) $((took % 60)) "$name" "$([ $code -eq 0 ] || echo " FAILED ($code)")" >&2
  return $code
}
