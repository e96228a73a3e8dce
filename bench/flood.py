"""A slow-client flood for bench.py: `flood.py HOST PORT CONNECTIONS SECONDS` (loopback only, stops by itself).

Keeps CONNECTIONS connections open that send a request's headers one byte a second and
never finish them (slowloris), reopening each one the server closes, for SECONDS.
Prints one JSON line: connections opened and closed by the server.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

HEAD = b"POST /v1/classify HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nX-Slow: "


async def slow_client(host: str, port: int, until: float, stats: dict[str, int]) -> None:
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            stats["connect_failed"] += 1
            await asyncio.sleep(0.5)
            continue
        stats["opened"] += 1
        try:
            writer.write(HEAD)
            while time.monotonic() < until:
                try:
                    if await asyncio.wait_for(reader.read(4096), 1) == b"":
                        break  # closed by the server
                except TimeoutError:
                    writer.write(b"a")
                    await writer.drain()
            else:
                writer.close()
                return
        except OSError:
            pass
        stats["closed_by_server"] += 1
        writer.close()
        await asyncio.sleep(0.05)


async def main(host: str, port: int, connections: int, seconds: float) -> dict[str, int]:
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the flood runs on loopback only")
    stats = {"opened": 0, "closed_by_server": 0, "connect_failed": 0}
    until = time.monotonic() + seconds
    await asyncio.gather(*(slow_client(host, port, until, stats) for _ in range(connections)))
    return stats


if __name__ == "__main__":
    h, p, n, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    print(json.dumps({"connections": n, "seconds": s, **asyncio.run(main(h, p, n, s))}))
