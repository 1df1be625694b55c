"""The web server (:8080): the embeddable chat widget, a demo page that embeds it the way a
cluster site would, and a page showing site owners how to embed it. Serves files only; every
answer comes from the Rasa server, which the widget reaches directly over socket.io.

The widget is one script, /widget/kakehashi-widget.js: the vendored socket.io client (kept in
a closure, so it neither needs nor touches the host page's globals), the default assistant URL
(KAKEHASHI_PUBLIC_RASA_URL) and bot/static/widget/kakehashi-widget.js, put together when the
server starts — no build step.

Operations (docs/observability.md): /healthz (the process runs), /readyz (the database answers)
and /metrics (helpdesk tickets from the database; behind KAKEHASHI_METRICS_TOKEN).

Usage: python -m bot.web
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from bot import observability as obs
from bot import settings

STATIC = settings.ROOT / "bot" / "static"
WIDGET = STATIC / "widget"
ASSET_CACHE = "public, max-age=300"  # embedded under a fixed URL: revalidated (ETag) after 5 min
WIDGET_ASSETS = web.AppKey("widget_assets", dict)
PAGE_CSP = web.AppKey("page_csp", str)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def public_rasa_url() -> str:
    """Where browsers reach the Rasa server (its socket.io endpoint)."""
    return settings.env("KAKEHASHI_PUBLIC_RASA_URL", f"http://localhost:{settings.rasa_port()}").rstrip("/")


@dataclass(frozen=True)
class Asset:
    """A file served from memory, with its gzipped form and a validator."""

    body: bytes
    gzipped: bytes
    etag: str
    content_type: str

    @classmethod
    def of(cls, body: bytes, content_type: str) -> Asset:
        return cls(body, gzip.compress(body, 9, mtime=0), f'"{hashlib.sha256(body).hexdigest()[:20]}"', content_type)


def widget_bundle(rasa_url: str) -> bytes:
    """The widget script as served: socket.io client + defaults + widget."""
    vendor = (WIDGET / "vendor" / "socket.io.min.js").read_text(encoding="utf-8")
    vendor = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", vendor)  # the map is not served
    widget = (WIDGET / "kakehashi-widget.js").read_text(encoding="utf-8")
    defaults = json.dumps({"assistantUrl": rasa_url}).replace("<", "\\u003c")
    return "".join(
        [
            "(function () {\n",
            "var KAKEHASHI_IO = (function () { var module = { exports: {} }, exports = module.exports, define;\n",
            vendor,
            "\nreturn module.exports; })();\n",
            "var KAKEHASHI_DEFAULTS = " + defaults + ";\n",
            widget,
            "\n})();\n",
        ]
    ).encode()


def widget_assets(rasa_url: str) -> dict[str, Asset]:
    return {
        "kakehashi-widget.js": Asset.of(widget_bundle(rasa_url), "application/javascript"),
        "kakehashi-widget.css": Asset.of((WIDGET / "kakehashi-widget.css").read_bytes(), "text/css"),
    }


def page_csp(rasa_url: str) -> str:
    """Our own pages run under a strict policy — which also shows the widget works under one."""
    parts = urlsplit(rasa_url)
    ws = ("wss" if parts.scheme == "https" else "ws") + "://" + parts.netloc
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {parts.scheme}://{parts.netloc} {ws}; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'; object-src 'none'"
    )


@web.middleware
async def security_headers(request: web.Request, handler):  # type: ignore[no-untyped-def]
    resp = await handler(request)
    resp.headers.update(SECURITY_HEADERS)
    return resp


async def serve_asset(request: web.Request) -> web.Response:
    asset = request.app[WIDGET_ASSETS].get(request.match_info["name"])
    if asset is None:
        raise web.HTTPNotFound()
    headers = {
        "Cache-Control": ASSET_CACHE,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
        # Any site may embed the widget (the assistant decides which origins may talk to it).
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body, headers["Content-Encoding"] = asset.gzipped, "gzip"
    return web.Response(body=body, headers=headers, content_type=asset.content_type, charset="utf-8")


def page(name: str):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.FileResponse(STATIC / name)
        resp.headers["Content-Security-Policy"] = request.app[PAGE_CSP]
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    return handler


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(_: web.Request) -> web.Response:
    """Ready when the database (knowledge base, helpdesk tickets, outbox) answers."""
    status, body = await obs.readiness(database=obs.check_database)
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    refused = obs.metrics_refusal(request.headers.get("Authorization"))
    if refused is not None:
        status, reason = refused
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        return web.json_response({"error": reason}, status=status, headers=headers)
    figures = await asyncio.to_thread(obs.database_metrics)
    return web.Response(
        text=obs.exposition([obs.STARTED, *figures]),
        headers={"Content-Type": obs.CONTENT_TYPE, "Cache-Control": "no-store"},
    )


def make_app(rasa_url: str | None = None) -> web.Application:
    rasa_url = (rasa_url or public_rasa_url()).rstrip("/")
    app = web.Application(middlewares=[security_headers], client_max_size=64 * 1024)
    app[WIDGET_ASSETS] = widget_assets(rasa_url)
    app[PAGE_CSP] = page_csp(rasa_url)
    app.router.add_get("/", page("index.html"))
    app.router.add_get("/embed", page("embed.html"))
    app.router.add_get("/widget/{name}", serve_asset)
    app.router.add_get("/healthz", health)
    app.router.add_get("/readyz", ready)
    app.router.add_get("/metrics", metrics)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    from bot.helpdesk.app import make_helpdesk_app

    app.add_subapp("/helpdesk", make_helpdesk_app())
    return app


def main() -> None:
    obs.configure_logging("web")
    web.run_app(make_app(), host=settings.env("WEB_HOST", "127.0.0.1"), port=settings.web_port(), print=lambda *_: None)


if __name__ == "__main__":
    main()
