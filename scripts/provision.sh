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
die() { printf '\033[1;31mxx>\033[0m %s\n' "$*" >&2; exit 1; }
as_postgres() { (cd / && runuser -u postgres -- "$@"); }  # from a directory postgres may enter

WITH_DEMO=1
[ "${1:-}" = "--no-demo" ] && WITH_DEMO=0

# 1. System packages -----------------------------------------------------------------------------
APT_PACKAGES=(postgresql-15 postgresql-15-postgis-3 postgresql-client-15 gdal-bin libgdal32 libgeos-c1v5
              libproj25 redis-server gettext python3-venv fonts-dejavu-core chromium chromium-driver)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "Installing system packages: ${missing[*]}"
  [ "$(id -u)" -eq 0 ] || die "Run as root to install system packages."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # Keep apt from starting services of its own: this script decides what runs. Only a policy file we
  # created is removed, also when the install is interrupted.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && [ -f /etc/postgresql/15/main/start.conf ]; then
    # The packaged cluster (password auth) would take port 5432 at the next boot, in place of ours.
    echo manual > /etc/postgresql/15/main/start.conf
  fi
  rm -f /usr/sbin/policy-rc.d; trap - EXIT
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
# A setting as Django will see it: the environment first, then .env (read, never executed as shell).
setting() {
  .venv/bin/python -c 'import runpy, sys; env = runpy.run_path("config/env.py"); env["load_dotenv"](); print(env["env_str"](sys.argv[1], sys.argv[2]))' "$1" "$2"
}
url_part() {  # url_part URL hostname|port|name|admin DEFAULT
  .venv/bin/python -c '
import sys
from urllib.parse import urlsplit, urlunsplit
url, part, default = sys.argv[1:]
p = urlsplit(url)
value = {"hostname": p.hostname, "port": p.port, "name": p.path.lstrip("/"),
         "admin": urlunsplit(p._replace(path="/postgres"))}[part]
print(value or default)' "$@"
}
DATABASE_URL=$(setting DATABASE_URL postgres://postgres@127.0.0.1:5432/boucle)
REDIS_URL=$(setting REDIS_URL redis://127.0.0.1:6379/0)

# 4. PostgreSQL: the given server, else a project-local cluster under .local/ -----------------------
db_host=$(url_part "$DATABASE_URL" hostname 127.0.0.1)
db_port=$(url_part "$DATABASE_URL" port 5432)
db_name=$(url_part "$DATABASE_URL" name boucle)
admin_url=$(url_part "$DATABASE_URL" admin "")
if ! pg_isready -q -h "$db_host" -p "$db_port"; then
  say "No PostgreSQL answers on $db_host:$db_port: starting a project-local cluster in .local/postgres"
  [ "$(id -u)" -eq 0 ] || die "Start PostgreSQL on $db_host:$db_port, set DATABASE_URL, or run as root."
  PGBIN=/usr/lib/postgresql/15/bin
  pg_base="$LOCAL/postgres"
  if [ ! -e "$pg_base" ] && ! as_postgres test -x "$LOCAL"; then
    # The postgres user cannot reach the checkout (for example under /root): keep the cluster in
    # /var/lib/boucle and point .local/postgres at it.
    outside="/var/lib/boucle/$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)-postgres"
    mkdir -p "$outside"
    ln -s "$outside" "$pg_base"
  fi
  mkdir -p "$pg_base"
  pg_dir=$(readlink -f "$pg_base")  # the path the postgres user can follow
  chown postgres:postgres "$pg_dir"
  if [ ! -f "$pg_dir/data/PG_VERSION" ]; then
    as_postgres "$PGBIN/initdb" -D "$pg_dir/data" -A trust -U postgres --encoding=UTF8 \
      --locale=C.UTF-8 >/dev/null
  fi
  as_postgres "$PGBIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w \
    -o "-h $db_host -p $db_port -k $pg_dir" start >/dev/null
fi
for _ in $(seq 30); do pg_isready -q -h "$db_host" -p "$db_port" && break; sleep 1; done
pg_isready -q -h "$db_host" -p "$db_port" || die "PostgreSQL does not answer on $db_host:$db_port."
if [ "$(psql "$admin_url" -tAc "select 1 from pg_database where datname = '$db_name'")" != "1" ]; then
  say "Creating database $db_name"
  psql "$admin_url" -v ON_ERROR_STOP=1 -qc "create database \"$db_name\""
fi
PGOPTIONS="-c client_min_messages=warning" psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qc \
  "create extension if not exists postgis"

# 5. Redis: the given server, else a project-local one --------------------------------------------
redis_host=$(url_part "$REDIS_URL" hostname 127.0.0.1)
redis_port=$(url_part "$REDIS_URL" port 6379)
if ! redis-cli -h "$redis_host" -p "$redis_port" ping >/dev/null 2>&1; then
  say "No Redis answers on $redis_host:$redis_port: starting a project-local redis-server in .local/redis"
  mkdir -p "$LOCAL/redis"
  redis-server --daemonize yes --bind "$redis_host" --port "$redis_port" --save "" --appendonly no \
    --dir "$LOCAL/redis" --logfile "$LOCAL/redis/redis.log"
  for _ in $(seq 30); do redis-cli -h "$redis_host" -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.5; done
  redis-cli -h "$redis_host" -p "$redis_port" ping >/dev/null || die "Redis does not answer on $redis_host:$redis_port."
fi

# 6. Schema and data ------------------------------------------------------------------------------
say "Migrating and loading reference data"
.venv/bin/python manage.py compilemessages --ignore=.venv --ignore=.local -v 0
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py load_catalogue
.venv/bin/python manage.py load_territories territories/data/mel-communes.geojson --kind commune --code-field code_insee
if [ "$WITH_DEMO" = 1 ]; then
  .venv/bin/python manage.py seed_demo
fi
say "Provisioned."
