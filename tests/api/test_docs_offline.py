"""/docs works offline: every file the page loads comes from fscti itself, none from a CDN."""
import re
from urllib.parse import urljoin, urlsplit

ASSET_TYPES = {".css": "text/css", ".js": "text/javascript"}


def test_the_docs_page_loads_only_same_origin_files(client):
    r = client.get("/docs")
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(urls) == 3  # the stylesheet and the two scripts
    for url in urls:
        assert not urlsplit(url).scheme and not urlsplit(url).netloc, url
        path = urlsplit(urljoin("http://fscti.test/docs", url)).path
        asset = client.get(path)
        assert asset.status_code == 200, path
        assert asset.mimetype == ASSET_TYPES[path[path.rindex("."):]], path
        assert len(asset.data) > 1000
    # the spec URL too, and Swagger UI's online validator is off (it would call out)
    assert 'url: "/openapi.json"' in page and '"validatorUrl": null' in page


def test_the_docs_page_may_load_nothing_from_elsewhere(client):
    policy = client.get("/docs").headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert "http" not in policy  # no other origin anywhere in it
    assert client.get("/docs/assets/swagger-ui-bundle.js").headers["Content-Security-Policy"]


def test_the_swagger_ui_licence_is_served_and_nothing_else_of_the_package(client):
    licence = client.get("/docs/assets/LICENSE")
    assert licence.status_code == 200 and b"Apache License, Version 2.0" in licence.data
    assert client.get("/docs/assets/VERSION").data.strip() == b"v5.34.0"
    assert client.get("/docs/assets/index.template.html").status_code == 404
    assert client.get("/docs/assets/..%2F__init__.py").status_code == 404
