"""`flask mirror ...`: the SQL → Redis mirror of the directory."""
from flask.cli import AppGroup

mirror = AppGroup("mirror", help="The Redis mirror of the extension directory.")
