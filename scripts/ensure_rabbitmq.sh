#!/usr/bin/env bash
# Make sure a local RabbitMQ answers on 127.0.0.1:5672 and has the vhost given as $1 (for the
# CI lane that runs the worker/listener integration tests with RabbitMQ as the Celery broker).
# Installs Debian's rabbitmq-server when it is missing (as root), starts it when it is stopped.
set -euo pipefail
vhost="${1:-fscti-ci}"
answers() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! answers; then
  if ! command -v rabbitmqctl >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server
  fi
  (service rabbitmq-server start || rabbitmq-server -detached) >/dev/null 2>&1 || true
  for _ in $(seq 60); do answers && break; sleep 1; done
  answers || { echo "ensure_rabbitmq: nothing answers on 127.0.0.1:5672" >&2; exit 1; }
fi
rabbitmqctl -q await_startup >/dev/null 2>&1 || true
rabbitmqctl -q list_vhosts | grep -qx "$vhost" || rabbitmqctl -q add_vhost "$vhost"
rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*'
