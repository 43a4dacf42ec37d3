"""Reverse proxies in front of `web` (`web.trusted_proxies`, docs/configuration.md).

Behind a proxy every TCP peer is the proxy, so the client address /directory's allowlist
judges, the scheme (a `Secure` cookie needs https) and the host come from the X-Forwarded-*
headers the proxy writes: werkzeug's ProxyFix with `hops` proxies, each of which appends one
value. Two differences from ProxyFix, both so that a client cannot pass as the proxy:

- the values are split on commas, as proxies write them. ProxyFix parses a list of quoted
  strings: a client sending `X-Forwarded-For: "` makes nginx's `", 203.0.113.9` unreadable
  to it, and ProxyFix then keeps the proxy's own address (127.0.0.1, which the allowlist
  admits);
- an X-Forwarded-For with fewer values than `hops` (a request that bypassed a proxy, or an
  empty value) leaves no address that is surely the client's: the client is then "unknown",
  which no allowlist admits, rather than the proxy.

With `web.trusted_proxies` 0 (the default) this is not installed at all.
"""
from werkzeug.middleware.proxy_fix import ProxyFix

UNKNOWN_CLIENT = "unknown"


class TrustedProxies(ProxyFix):
    """ProxyFix for `hops` proxies (X-Forwarded-For, -Proto, -Host), read as described above."""

    def __init__(self, app, hops: int):
        super().__init__(app, x_for=hops, x_proto=hops, x_host=hops)

    def _get_real_value(self, trusted: int, value: str | None) -> str | None:
        if not (trusted and value):
            return None
        values = [v.strip() for v in value.split(",")]
        return values[-trusted] if len(values) >= trusted else None

    def __call__(self, environ, start_response):
        chain = environ.get("HTTP_X_FORWARDED_FOR")
        if chain is not None and not self._get_real_value(self.x_for, chain):
            environ["REMOTE_ADDR"] = UNKNOWN_CLIENT
        return super().__call__(environ, start_response)
