"""POST /directory: mod_xml_curl's directory binding."""
from flask import Blueprint

bp = Blueprint("directory", __name__)
