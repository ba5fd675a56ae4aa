#!/usr/bin/env bash
# Serves the API on http://127.0.0.1:8000 with a Celery worker and Celery beat. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
# Django reads .env itself (config/env.py); only the settings module must be chosen before it starts.
# .env is not sourced: its values are not shell (e.g. DEFAULT_FROM_EMAIL=Boucle <no-reply@…>).
DJANGO_SETTINGS_MODULE=$(.venv/bin/python -c 'import runpy; env = runpy.run_path("config/env.py"); env["load_dotenv"](); print(env["env_str"]("DJANGO_SETTINGS_MODULE", "config.settings.base"))')
export DJANGO_SETTINGS_MODULE
PORT=${PORT:-8000}
pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "Stopping Boucle…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

.venv/bin/celery -A config worker --loglevel=INFO --concurrency=2 &
pids+=($!)
.venv/bin/celery -A config beat --loglevel=INFO --scheduler django_celery_beat.schedulers:DatabaseScheduler \
  --pidfile= &
pids+=($!)
# The access log names the client's address behind BOUCLE_TRUSTED_PROXIES (config/gunicorn.py).
.venv/bin/gunicorn config.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 --threads 4 \
  --access-logfile - --logger-class config.gunicorn.AccessLogger &
pids+=($!)

sleep 2
cat <<MSG

  Boucle is running.
    API            http://127.0.0.1:$PORT/api/v1/
    API docs       http://127.0.0.1:$PORT/api/docs/
    OpenAPI schema http://127.0.0.1:$PORT/api/schema/
    Health         http://127.0.0.1:$PORT/healthz
    Dashboard      http://127.0.0.1:$PORT/dashboard/
    Admin          http://127.0.0.1:$PORT/admin/

$(.venv/bin/python manage.py seed_demo --accounts)

  Ctrl-C stops the API, the worker and beat.
MSG
wait -n "${pids[@]}"
