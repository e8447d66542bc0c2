#!/usr/bin/env bash
# The test command (README and CI): brings the local stack up (installing what is missing), builds, and runs every
# test project against the real RabbitMQ, PostgreSQL and Azurite. Ends with one summary line "N passed, N failed, N skipped".
#   ./scripts/test.sh                 all tests
#   ./scripts/test.sh --filter EXPR   passes the filter to dotnet test (e.g. "FullyQualifiedName~Imaging")
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

"$root/scripts/stack.sh" up

results="$root/.state/test-results"
rm -rf "$results"; mkdir -p "$results"
dotnet build BatchVlm.sln -c Release -v q -nologo
set +e
dotnet test BatchVlm.sln -c Release --no-build --logger "trx" --results-directory "$results" "$@"
rc=$?
set -e

# One closing line over all test projects, read from the TRX counters.
passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [[ -f "$trx" ]] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  t=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters"); e=$(sed -n 's/.* executed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${t:-0} - ${e:-0}))
done
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [[ $rc -eq 0 && $passed -eq 0 ]]; then echo "no test ran" >&2; exit 1; fi
exit $rc
