"""Every Flask CLI command group: `flask tokens`, `flask mirror`, `flask metrics`."""


def register_cli(app):
    """Add fscti's command groups to `flask`."""
    from app.cli.metrics import metrics
    from app.cli.mirror import mirror
    from app.cli.tokens import tokens

    app.cli.add_command(tokens)
    app.cli.add_command(mirror)
    app.cli.add_command(metrics)
