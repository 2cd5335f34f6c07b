# shellcheck shell=bash source-path=SCRIPTDIR
# The chaos scenarios of tests/chaos/errand_chaos.cpp (issues 4, 13, 14, 15), shared by
# scripts/chaos and the chaos stage of scripts/test; source it, do not run it.
#
#   errand_chaos_run DRIVER [SCENARIO...] [-- DRIVER_ARGS...]
#
# runs the scenarios (all of ERRAND_CHAOS_SCENARIOS when none is named) one after the other with
# the driver program DRIVER, shows their output, then prints every report line and a summary line;
# returns non-zero when any failed. DRIVER_ARGS go to every scenario (e.g. `-- --seed 42`).
# The *-postgres scenarios use the server of ERRAND_TEST_PG_URL (and restart-postgres restarts it
# with ERRAND_TEST_PG_CTL): start a throwaway one first (errand_pg_start, scripts/lib/postgres.sh);
# without it they fail. Adds one passed or failed test per scenario to common.sh's totals.
#
# Environment: ERRAND_CHAOS_TIMEOUT (seconds one scenario may take, 300).

if ! declare -F errand_log >/dev/null; then
  # shellcheck source=common.sh
  source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fi

ERRAND_CHAOS_SCENARIOS=(kill9-sqlite kill9-postgres freeze-sqlite freeze-postgres restart-postgres
  sigterm-sqlite sigterm-postgres durability-sqlite cancel-sqlite cancel-postgres
  limits-global-sqlite limits-global-postgres limits-key-sqlite limits-key-postgres
  limits-rate-sqlite limits-rate-postgres cron-sqlite cron-postgres)

# errand_chaos_args SCENARIO: sets chaos_args to the driver's arguments for it; false if unknown.
errand_chaos_args() {
  case "$1" in
    kill9-sqlite) chaos_args=(kill9 --store sqlite) ;;
    kill9-postgres) chaos_args=(kill9 --store postgres) ;;
    freeze-sqlite) chaos_args=(freeze --store sqlite) ;;
    freeze-postgres) chaos_args=(freeze --store postgres) ;;
    restart-postgres) chaos_args=(restart) ;;
    sigterm-sqlite) chaos_args=(sigterm --store sqlite) ;;
    sigterm-postgres) chaos_args=(sigterm --store postgres) ;;
    durability-sqlite) chaos_args=(durability) ;;
    cancel-sqlite) chaos_args=(cancel --store sqlite) ;;
    cancel-postgres) chaos_args=(cancel --store postgres) ;;
    limits-global-sqlite) chaos_args=(limits --kind global --store sqlite) ;;
    limits-global-postgres) chaos_args=(limits --kind global --store postgres) ;;
    limits-key-sqlite) chaos_args=(limits --kind key --store sqlite) ;;
    limits-key-postgres) chaos_args=(limits --kind key --store postgres) ;;
    limits-rate-sqlite) chaos_args=(limits --kind rate --store sqlite) ;;
    limits-rate-postgres) chaos_args=(limits --kind rate --store postgres) ;;
    cron-sqlite) chaos_args=(cron --store sqlite) ;;
    cron-postgres) chaos_args=(cron --store postgres) ;;
    *) return 1 ;;
  esac
}

errand_chaos_run() {
  local driver="$1"
  shift
  local scenarios=() extra=()
  while (($#)); do
    if [[ $1 == -- ]]; then
      shift
      extra=("$@")
      break
    fi
    scenarios+=("$1")
    shift
  done
  ((${#scenarios[@]})) || scenarios=("${ERRAND_CHAOS_SCENARIOS[@]}")
  if [[ ! -x $driver ]]; then
    errand_warn "chaos driver $driver is missing (build the errand_chaos target)"
    total_failed=$((total_failed + ${#scenarios[@]}))
    return 1
  fi

  local limit="${ERRAND_CHAOS_TIMEOUT:-300}" logs started=$SECONDS
  logs=$(mktemp -d "${TMPDIR:-/tmp}/errand-chaos-logs.XXXXXX") || return 1
  local reports=() failed=() passed=0 scenario chaos_args
  for scenario in "${scenarios[@]}"; do
    if ! errand_chaos_args "$scenario"; then
      reports+=("$scenario: FAIL: unknown scenario (known: ${ERRAND_CHAOS_SCENARIOS[*]})")
      failed+=("$scenario")
      continue
    fi
    if [[ $scenario == *-postgres && -z ${ERRAND_TEST_PG_URL:-} ]]; then
      reports+=("$scenario: FAIL: no PostgreSQL server (ERRAND_TEST_PG_URL is not set)")
      failed+=("$scenario")
      continue
    fi
    errand_log "chaos: $scenario: ${driver##*/} ${chaos_args[*]} ${extra[*]}"
    local log="$logs/$scenario.log"
    timeout -k 10 "$limit" "$driver" "${chaos_args[@]}" "${extra[@]}" </dev/null 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    # The report line: "kill9 sqlite: 5000 jobs, ..., 12.3 s: PASS" (or ": FAIL (2 check(s))").
    local report seed
    report=$(grep -E ': (PASS|FAIL \([0-9]+ check)' "$log" | tail -n 1)
    seed=$(sed -n 's/^[a-z0-9-]* [a-z]*: seed \([0-9]*\),.*/\1/p' "$log" | head -n 1)
    if ((rc == 124 || rc == 137)); then
      report="$scenario: FAIL: did not end within ${limit}s${report:+ (last report: $report)}"
    elif [[ -z $report ]]; then
      report="$scenario: FAIL: the driver exited with status $rc without a report"
    elif ((rc != 0)) && [[ $report == *': PASS' ]]; then
      report="$report, but the driver exited with status $rc"
    fi
    if ((rc == 0)); then
      passed=$((passed + 1))
    else
      failed+=("$scenario")
      [[ -n $seed ]] &&
        report+=$'\n'"    reproduce: $driver ${chaos_args[*]} ${extra[*]} --seed $seed"
    fi
    reports+=("$report")
  done
  rm -rf "$logs"

  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + ${#failed[@]}))
  echo
  echo "chaos scenarios:"
  local line
  for line in "${reports[@]}"; do printf '  %s\n' "$line"; done
  if ((${#failed[@]})); then
    echo "chaos: $passed passed, ${#failed[@]} FAILED (${failed[*]}) in $((SECONDS - started))s"
    return 1
  fi
  echo "chaos: $passed passed, 0 failed in $((SECONDS - started))s"
}
