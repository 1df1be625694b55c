"""The web page server (:8080): the demo page a newcomer chats in, and the static files of the
embeddable widget. Serves files only; every answer comes from the Rasa server.

Usage: python -m bot.web
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot import settings

STATIC = settings.ROOT / "bot" / "static"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


@web.middleware
async def security_headers(request: web.Request, handler):  # type: ignore[no-untyped-def]
    resp = await handler(request)
    resp.headers.update(SECURITY_HEADERS)
    return resp


async def index(_: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def config_js(_: web.Request) -> web.Response:
    """Where the page finds the assistant (the Rasa server's public URL)."""
    url = settings.env("KAKEHASHI_PUBLIC_RASA_URL", f"http://localhost:{settings.rasa_port()}")
    return web.Response(text=f"window.KAKEHASHI_RASA_URL = {url!r};\n".replace("'", '"'),
                        content_type="application/javascript")


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app() -> web.Application:
    app = web.Application(middlewares=[security_headers], client_max_size=64 * 1024)
    app.router.add_get("/", index)
    app.router.add_get("/config.js", config_js)
    app.router.add_get("/healthz", health)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    web.run_app(make_app(), host=settings.env("WEB_HOST", "127.0.0.1"), port=settings.web_port(),
                print=lambda *_: None)


if __name__ == "__main__":
    main()
