"""Say, in one line each, whether the servers the live tests need answer as they must:
PostgreSQL takes a query, NATS has JetStream. Exits 1 with the reason if not."""

from __future__ import annotations

import asyncio
import os
import sys

import nats
import psycopg

from dvlab.live import pgconn


async def jetstream(url: str) -> None:
    nc = await nats.connect(url, connect_timeout=5, allow_reconnect=False)
    try:
        await nc.jetstream().account_info()
    finally:
        await nc.close()


def main() -> int:
    dsn = os.environ.get("DVLAB_TEST_PG_DSN") or "postgresql://127.0.0.1:5432/test"
    url = os.environ.get("DVLAB_TEST_NATS_URL") or "nats://127.0.0.1:4222"
    failed = False
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            version = conn.execute("SHOW server_version").fetchall()[0][0]
        print(f"PostgreSQL {version} answers at {pgconn.describe(dsn)}")
    except psycopg.Error as exc:
        print(
            f"PostgreSQL at {pgconn.describe(dsn)}: {pgconn.one_line(exc, dsn)}", file=sys.stderr
        )
        failed = True
    try:
        asyncio.run(jetstream(url))
        print(f"NATS with JetStream answers at {url}")
    except Exception as exc:
        print(f"NATS at {url}: no JetStream ({type(exc).__name__}: {exc})", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
