#!/usr/bin/env bash
# Install (if missing) and start a local RabbitMQ for the test suite; prints the AMQP URL to use.
set -euo pipefail
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq rabbitmq-server >&2
fi
# No systemd here: start the node in the background ourselves (the package's own start is
# refused by policy-rc.d in containers). A running node answers the ping and is left alone.
if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
  rabbitmq-server -detached >&2
fi
# -detached returns before the node registers: ping until it answers, then await the app.
for _ in $(seq 1 60); do
  rabbitmq-diagnostics -q ping >/dev/null 2>&1 && break
  sleep 1
done
rabbitmqctl -q await_startup --timeout 120 >&2
if ! rabbitmqctl -q list_vhosts name | grep -qx jingkai_test; then
  rabbitmqctl -q add_vhost jingkai_test >&2
fi
if ! rabbitmqctl -q list_users | cut -f1 | grep -qx jingkai_test; then
  rabbitmqctl -q add_user jingkai_test jingkai_test >&2
fi
rabbitmqctl -q set_permissions -p jingkai_test jingkai_test '.*' '.*' '.*' >&2
echo "amqp://jingkai_test:jingkai_test@127.0.0.1:5672/jingkai_test"
