"""Look up connections from a tiny local server: runs anywhere, no account or network needed.

Usage: python examples/quickstart.py
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from telnyx_async import NotFoundError, TelnyxSession

EXAMPLE = {
    "record_type": "ip_connection",
    "active": True,
    "anchorsite_override": "Chicago, IL",
    "connection_name": "office-trunk",
    "created_at": "2018-02-02T22:25:27.521Z",
    "updated_at": "2018-02-02T22:25:27.521Z",
    "webhook_api_version": "2",
    "tags": ["office"],
}


async def lookup(request: web.Request) -> web.Response:
    conn_id = request.match_info["id"]
    if request.headers.get("Authorization") != "Bearer demo-key":
        return web.json_response({"errors": [{"code": "10009"}]}, status=401)
    if not conn_id.isdigit():
        body = {"errors": [{"code": "10005", "title": "Resource not found"}]}
        return web.json_response(body, status=404)
    return web.Response(
        body=json.dumps({"data": {**EXAMPLE, "id": conn_id}}), content_type="application/json"
    )


async def main() -> None:
    app = web.Application()
    app.router.add_get("/v2/connections/{id}", lookup)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v2"
    try:
        async with TelnyxSession("demo-key", base_url=base_url) as telnyx:
            conn = await telnyx.connections.get("1293384261075731499")
            print(conn.id, conn.connection_name, conn.anchorsite_override, conn.created_at)
            ids = [str(1293384261075731499 + i) for i in range(1000)]
            conns = await telnyx.connections.gather_many(ids, concurrency=50)
            print(f"gather_many: {len(conns)} connections, in input order")
            try:
                await telnyx.connections.get("no-such-id")
            except NotFoundError as exc:
                print(f"typed error: {type(exc).__name__}: {exc}")
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
