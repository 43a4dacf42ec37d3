"""`flask mirror ...`: the SQL → Redis mirror of the directory."""
import json

import click
from flask.cli import AppGroup

mirror = AppGroup("mirror", help="The Redis mirror of the extension directory.")


@mirror.command("rebuild")
@click.option("--domain", help="Only this domain (default: every domain, and drop domains SQL lacks).")
@click.option("--batch", default=1000, show_default=True, help="Extensions per Redis batch.")
def rebuild_cmd(domain, batch):
    """Rebuild the mirror from SQL (build aside, then swap atomically)."""
    from app.mirror.rebuild import rebuild_all, rebuild_domain

    if domain:
        res = rebuild_domain(domain, batch)
        click.echo(f"{res.domain}: {res.status}, {res.extensions} extensions in {res.seconds}s")
        if res.status not in ("ok",):
            raise SystemExit(1)
        return
    # A full rebuild starts a data generation when Redis has none, so the listener and the
    # beat do not rebuild it once more (app/state/generation.py).
    from app.extensions import redis_ext
    from app.state import generation

    generation.stamp(redis_ext.client)
    out = rebuild_all(batch)
    for d in out.domains:
        click.echo(f"{d.domain}: {d.status}, {d.extensions} extensions in {d.seconds}s")
    for name in out.removed_domains:
        click.echo(f"{name}: removed (not in SQL)")
    click.echo(f"rebuilt {len(out.domains)} domain(s), {out.as_dict()['extensions']} extensions")
    if any(d.status not in ("ok", "gone") for d in out.domains):
        raise SystemExit(1)


def _print_report(report, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    click.echo(f"checked {report.checked} extensions")
    if not report.total:
        click.echo("no drift")
    for kind, n in sorted(report.drift.items()):
        click.echo(f"  {kind}: {n}")
    for item in report.sample:
        click.echo(f"  - {item['kind']}: {item['name'] or ''}@{item['domain']}")
    if report.repair:
        click.echo(f"repaired {report.repaired}, busy {report.busy}")
    if report.skipped_domains:
        click.echo(f"skipped (rebuild in progress): {', '.join(report.skipped_domains)}")


@mirror.command("check")
@click.option("--domain", help="Only this domain.")
@click.option("--repair", is_flag=True, help="Also repair what drifted (as the beat job does).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check_cmd(domain, repair, as_json):
    """Print the drift between SQL and Redis (exit status 1 when there is drift)."""
    from app.mirror.reconcile import reconcile

    report = reconcile(domain, repair=repair)
    _print_report(report, as_json)
    if report.total and not repair:
        raise SystemExit(1)
