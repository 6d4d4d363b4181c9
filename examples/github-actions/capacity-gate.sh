#!/usr/bin/env bash
# The capacity gate of examples/github-actions/capacity-gate.yml: rehearse a surge profile, gate
# the run (against a stored baseline when there is one), leave report.html and junit.xml in
# $SURGE_OUT for the workflow to upload. The logic lives here, not in the workflow, so that
# tests/test_ci_example.py runs the very commands CI runs. Runs the same on a laptop:
#
#   SURGE_PROFILE=weekday SURGE_TIME_SCALE=1440 bash examples/github-actions/capacity-gate.sh
#
# Inputs (environment; all optional):
#   SURGE_PROFILE         a shipped profile or a .toml path (default payday)
#   SURGE_HOST            the systems to rehearse, http(s)://…; empty: an embedded mock core on
#                         loopback, started and stopped by `surge rehearse`
#   SURGE_CORE_CONFIG     without SURGE_HOST: the embedded core's settings, a TOML file in the
#                         mock core's own format (lanes, tokens, AML rules: docs/capacity.md)
#   SURGE_BASELINE        a run folder of the same profile to gate against (p95, p99 and error
#                         rate regressions); empty: SLOs and correctness checks only
#   SURGE_MAX_REGRESSION  the worsening allowed against the baseline (default 0.1: 10%)
#   SURGE_OUT             where the run folder, report.html and junit.xml go (default results)
#   SURGE_TIME_SCALE      shorten the day that many times (default: surge rehearse's, 480)
#   SURGE_RATE_SCALE      multiply every arrival rate (default: the time scale)
#   SURGE_SEED            the seed (default: the profile's, so runs compare visit for visit)
#   SURGE_LANG            the report's language, zh_CN or en (default: the profile's locale)
#   SURGE_LOCUST_ARGS     more Locust options, split on spaces (for example "--customers 50")
#   LOCUST_TELLER_TOKEN, LOCUST_KIOSK_TOKEN, LOCUST_ONLINE_TOKEN, LOCUST_ADMIN_TOKEN
#                         with SURGE_HOST only: the target's tokens, from the workflow's
#                         secrets; the harness reads them from the environment, so they never
#                         reach a command line or run.json
# Outputs: $SURGE_OUT/report.html, $SURGE_OUT/junit.xml, the run folder under $SURGE_OUT, and
# run_folder=… in $GITHUB_OUTPUT when that is set. The step summary ($GITHUB_STEP_SUMMARY) gets
# the gate's summary.md once.
# Exit code: the gate's (0 passed, 1 a check failed, 2 bad input, 3 not valid evidence).
set -euo pipefail

profile=${SURGE_PROFILE:-payday}
out=${SURGE_OUT:-results}
baseline=${SURGE_BASELINE:-}
max_regression=${SURGE_MAX_REGRESSION:-0.1}

# Checked before the rehearsal, which takes minutes: a missing baseline would only show at the end.
if [[ -n $baseline && ! -d $baseline ]]; then
    echo "capacity-gate: SURGE_BASELINE: $baseline is not a folder" >&2
    exit 2
fi

args=(--profile "$profile" --out "$out")
[[ -n ${SURGE_HOST:-} ]] && args+=(--host "$SURGE_HOST")
[[ -n ${SURGE_CORE_CONFIG:-} ]] && args+=(--core-config "$SURGE_CORE_CONFIG")
[[ -n ${SURGE_TIME_SCALE:-} ]] && args+=(--time-scale "$SURGE_TIME_SCALE")
[[ -n ${SURGE_RATE_SCALE:-} ]] && args+=(--rate-scale "$SURGE_RATE_SCALE")
[[ -n ${SURGE_SEED:-} ]] && args+=(--seed "$SURGE_SEED")
lang=()
[[ -n ${SURGE_LANG:-} ]] && lang=(--lang "$SURGE_LANG")
args+=("${lang[@]}")
read -r -a locust_args <<<"${SURGE_LOCUST_ARGS:-}"
if ((${#locust_args[@]})); then
    args+=(-- "${locust_args[@]}")
fi

for token in LOCUST_TELLER_TOKEN LOCUST_KIOSK_TOKEN LOCUST_ONLINE_TOKEN LOCUST_ADMIN_TOKEN; do
    # The embedded core makes its own tokens and would refuse the staging ones, which the
    # environment passes on to Locust; a secret left unset in the workflow arrives as "".
    if [[ -z ${SURGE_HOST:-} || -z ${!token:-} ]]; then
        unset "$token"
    fi
done

# `surge rehearse` ends with the gate, and every gate appends its summary to the step summary:
# with a baseline only the comparing gate below may write it, or the summary shows up twice.
quiet=()
[[ -n $baseline ]] && quiet=(env -u GITHUB_STEP_SUMMARY)

mkdir -p "$out"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
code=0
"${quiet[@]}" surge rehearse "${args[@]}" | tee "$log" || code=$?
run=$(sed -n 's/^Run folder: //p' "$log" | tail -n 1)
if [[ -z $run || $code -eq 2 ]]; then
    # No folder (bad input, Locust never started) or Locust refused an option: nothing to gate.
    exit $((code == 0 ? 3 : code))
fi
[[ -n ${GITHUB_OUTPUT:-} ]] && echo "run_folder=$run" >>"$GITHUB_OUTPUT"

if [[ -n $baseline ]]; then
    code=0
    surge gate "$run" --baseline "$baseline" --max-regression "$max_regression" \
        --junit "$out/junit.xml" "${lang[@]}" || code=$?
    if ((code != 2)); then
        # The rehearsal's report has no comparison; rebuilt, it shows each ratio to the baseline.
        "${quiet[@]}" surge report "$run" --baseline "$baseline" "${lang[@]}" ||
            echo "capacity-gate: the report was not rebuilt with the comparison" >&2
    fi
elif [[ -f $run/junit.xml ]]; then
    cp "$run/junit.xml" "$out/junit.xml"
fi
if [[ -f $run/report.html ]]; then
    cp "$run/report.html" "$out/report.html"
fi
echo "capacity-gate: $out/report.html, $out/junit.xml (run folder $run): exit code $code"
exit "$code"
