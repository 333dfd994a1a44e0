#!/usr/bin/env bash
# Builds mixserve, then runs the tests of the given labels (default: all that can run here).
#
#   hack/test.sh [unit|integration|e2e|gpu ...]
#
# C++ tests run under CTest by label; Python tests under pytest with the same labels as markers
# (tests/<label>/test_*.py). A label that should have tests but collects none fails the run.
# gpu tests report "skipped: no GPU" on machines without one.
set -euo pipefail
LOG_TAG=test
source "$(dirname "$0")/lib/common.sh"
cd "$MIXSERVE_ROOT"

labels=("$@")
[ ${#labels[@]} -gt 0 ] || labels=(unit integration e2e gpu)
for l in "${labels[@]}"; do
  case $l in unit|integration|e2e|gpu) ;; *) die "unknown label '$l' (unit integration e2e gpu)" ;; esac
done

t0=$SECONDS
hack/setup.sh
hack/build.sh
log "setup and build took $((SECONDS - t0))s"

rc=0
regex="^($(IFS='|'; echo "${labels[*]}"))\$"
n_cpp=$(ctest --test-dir build -N -L "$regex" | sed -n 's/^Total Tests: //p')
if [ "${n_cpp:-0}" -gt 0 ]; then
  ctest --test-dir build -L "$regex" --output-on-failure --no-tests=error -j2 --timeout 600 || rc=1
fi

py_dirs=()
for l in "${labels[@]}"; do
  compgen -G "tests/$l/test_*.py" > /dev/null && py_dirs+=("tests/$l")
done
if [ ${#py_dirs[@]} -gt 0 ]; then
  log "C++ tests done after $((SECONDS - t0))s; now pytest ${py_dirs[*]}"
  set +e
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider "${py_dirs[@]}"
  prc=$?
  set -e
  if [ $prc -eq 5 ]; then log "pytest collected no tests in ${py_dirs[*]}"; rc=1;
  elif [ $prc -ne 0 ]; then rc=1; fi
fi
# No line after the test runners' own summaries: CI reads the last one.
[ $rc -eq 0 ] || log "labels ${labels[*]}: FAILED after $((SECONDS - t0))s"
exit $rc
