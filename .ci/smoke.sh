#!/usr/bin/env bash
# The quick smoke subset of CI's "newest allowed" leg: the installed `bit` console script, run as a user
# would, against whatever versions the ranges in pyproject.toml allow today. Ends with 'N passed, N failed'.
set -uo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() {  # check NAME CMD...: run CMD (output to a log), count it, show the log tail on failure
  local name=$1; shift
  if "$@" >"$work/log" 2>&1; then
    passed=$((passed + 1)); echo "ok      $name"
  else
    failed=$((failed + 1)); echo "FAILED  $name (exit $?)"; tail -n 15 "$work/log" | sed 's/^/    /'
  fi
}
check "bit --help" bit --help
commands=$(python -c 'from bitcli.cli import app
print(" ".join(c.name for c in app.registered_commands))
print(" ".join(g.name for g in app.registered_groups))')
for cmd in $commands; do
  check "bit $cmd --help" bit "$cmd" --help
done
check "bit data --synthetic 8" bit -q data --synthetic 8 -w "$work/w"
check "bit all --demo (8 images, bs 1,4)" bit all --demo --quiet --limit 8 --bs 1,4 -w "$work/demo"
check "bit all report.json written" test -s "$work/demo/report.json"
echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
