#!/usr/bin/env bash
# Brings a Debian 12 machine (as root) to a ready Boucle: system packages, virtual environment, .env,
# PostgreSQL + PostGIS, Redis, migrations and reference data. Safe to run any number of times.
#   scripts/provision.sh            everything, demo data included
#   scripts/provision.sh --no-demo  without the demo scenario
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL"
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

WITH_DEMO=1
[ "${1:-}" = "--no-demo" ] && WITH_DEMO=0

# 1. System packages -----------------------------------------------------------------------------
APT_PACKAGES=(postgresql-15 postgresql-15-postgis-3 postgresql-client-15 gdal-bin libgdal32 libgeos-c1v5
              libproj25 redis-server gettext python3-venv chromium chromium-driver)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "Installing system packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "Run as root to install system packages." >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # Keep apt from starting services of its own: this script decides what runs.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

# 2. Python environment (pinned by requirements.lock) ------------------------------------------------
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "Creating the virtual environment"
  "$PY" -m venv .venv
fi
lock_hash=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ "$(cat .venv/.lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  say "Installing Python dependencies (requirements.lock)"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.lock
  echo "$lock_hash" > .venv/.lock-hash
fi

# 3. Settings ----------------------------------------------------------------------------------------
if [ ! -f .env ]; then
  say "Writing .env from .env.example"
  cp .env.example .env
fi
set -a; . ./.env; set +a
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/boucle}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}

# 4. PostgreSQL: the given server, else a project-local cluster under .local/ -----------------------
db_host=$(.venv/bin/python -c "from urllib.parse import urlsplit as u; import sys; p=u(sys.argv[1]); print(p.hostname or '127.0.0.1')" "$DATABASE_URL")
db_port=$(.venv/bin/python -c "from urllib.parse import urlsplit as u; import sys; p=u(sys.argv[1]); print(p.port or 5432)" "$DATABASE_URL")
db_name=$(.venv/bin/python -c "from urllib.parse import urlsplit as u; import sys; print(u(sys.argv[1]).path.lstrip('/'))" "$DATABASE_URL")
admin_url=$(.venv/bin/python -c "from urllib.parse import urlsplit as u, urlunsplit as j; import sys; p=u(sys.argv[1]); print(j(p._replace(path='/postgres')))" "$DATABASE_URL")
if ! pg_isready -q -h "$db_host" -p "$db_port"; then
  say "No PostgreSQL answers on $db_host:$db_port: starting a project-local cluster in .local/pg"
  PGBIN=/usr/lib/postgresql/15/bin
  if [ ! -f "$LOCAL/pg/PG_VERSION" ]; then
    mkdir -p "$LOCAL/pg"; chown postgres:postgres "$LOCAL/pg"
    runuser -u postgres -- "$PGBIN/initdb" -D "$LOCAL/pg" -A trust -U postgres --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  mkdir -p "$LOCAL/pg-run"; chown postgres:postgres "$LOCAL/pg-run"
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$LOCAL/pg" -l "$LOCAL/pg.log" -w \
    -o "-h $db_host -p $db_port -k $LOCAL/pg-run" start >/dev/null
fi
for _ in $(seq 30); do pg_isready -q -h "$db_host" -p "$db_port" && break; sleep 1; done
if [ "$(psql "$admin_url" -tAc "select 1 from pg_database where datname = '$db_name'")" != "1" ]; then
  say "Creating database $db_name"
  psql "$admin_url" -qc "create database \"$db_name\""
fi
psql "$DATABASE_URL" -qc "create extension if not exists postgis" 2>&1 | grep -v "already exists" || true

# 5. Redis: the given server, else a project-local one --------------------------------------------
redis_host=$(.venv/bin/python -c "from urllib.parse import urlsplit as u; import sys; print(u(sys.argv[1]).hostname or '127.0.0.1')" "$REDIS_URL")
redis_port=$(.venv/bin/python -c "from urllib.parse import urlsplit as u; import sys; print(u(sys.argv[1]).port or 6379)" "$REDIS_URL")
if ! redis-cli -h "$redis_host" -p "$redis_port" ping >/dev/null 2>&1; then
  say "No Redis answers on $redis_host:$redis_port: starting a project-local redis-server in .local/redis"
  mkdir -p "$LOCAL/redis"
  redis-server --daemonize yes --bind "$redis_host" --port "$redis_port" --save "" --appendonly no \
    --dir "$LOCAL/redis" --logfile "$LOCAL/redis/redis.log"
  for _ in $(seq 30); do redis-cli -h "$redis_host" -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

# 6. Schema and data ------------------------------------------------------------------------------
say "Migrating and loading reference data"
.venv/bin/python manage.py compilemessages --ignore=.venv -v 0 2>/dev/null || true
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py load_catalogue
.venv/bin/python manage.py load_territories territories/data/mel-communes.geojson --kind commune --code-field code_insee
if [ "$WITH_DEMO" = 1 ]; then
  .venv/bin/python manage.py seed_demo
fi
say "Provisioned."
