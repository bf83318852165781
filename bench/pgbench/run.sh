#!/usr/bin/env bash
# The baseline of BENCHMARKS.md: a plain PostgreSQL ledger driven by pgbench.
# Usage: bench/pgbench/run.sh [postgres URL] [seconds]   (default: the local test database, 30 s)
set -euo pipefail
cd "$(dirname "$0")"
url=${1:-postgres://postgres@127.0.0.1:5432/test}
seconds=${2:-30}
psql "$url" -q -v ON_ERROR_STOP=1 -c 'SET synchronous_commit = on' -f schema.sql >/dev/null
for script in spread hot; do
  echo "== baseline, $script payee(s): pgbench -M prepared -c 32 -j 2 -T $seconds"
  pgbench "$url" -n -M prepared -c 32 -j 2 -T "$seconds" -f "$script.sql" 2>/dev/null \
    | grep -E 'tps|latency average|number of transactions actually processed'
done
