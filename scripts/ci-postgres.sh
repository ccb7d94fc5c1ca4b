#!/usr/bin/env bash
# Install (if missing) and start a local PostgreSQL for the test suite; prints the URL to use.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | grep -q "^${version} main"; then
  pg_createcluster "$version" main >&2
fi
pg_ctlcluster "$version" main start >&2 || pg_ctlcluster "$version" main status >&2
for _ in $(seq 1 30); do
  runuser -u postgres -- pg_isready -q && break
  sleep 1
done
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<'SQL' >&2
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jingkai_test') THEN
    CREATE ROLE jingkai_test LOGIN CREATEDB PASSWORD 'jingkai_test';
  END IF;
END $$;
SQL
echo "postgresql+psycopg://jingkai_test:jingkai_test@127.0.0.1:5432/postgres"
