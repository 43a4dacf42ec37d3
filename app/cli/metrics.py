"""`flask metrics serve`: export this host's multiprocess directory where no web runs (a
worker-only or listener-only host). The cluster gauges (queues, nodes) come from any web."""
import threading

import click
from flask.cli import AppGroup

from app.metrics import process

metrics = AppGroup("metrics", help="Prometheus metrics.")


@metrics.command("serve")
@click.option("--port", default=9108, show_default=True, type=click.IntRange(1, 65535))
@click.option("--address", default="127.0.0.1", show_default=True,
              help="interface to listen on (0.0.0.0: every interface; firewall it)")
def serve(port: int, address: str) -> None:
    """Serve GET /metrics of this host's fscti processes on ADDRESS:PORT until stopped."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    path = process.directory()
    if path is None:
        raise click.ClickException("PROMETHEUS_MULTIPROC_DIR is not set: nothing to export")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    start_http_server(port, addr=address, registry=registry)
    click.echo(f"metrics of {path} on http://{address}:{port}/metrics")
    threading.Event().wait()
