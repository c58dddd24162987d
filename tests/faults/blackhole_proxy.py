#!/usr/bin/env python3
"""A TCP proxy on loopback that can black-hole its traffic, for network-cut fault tests.

  blackhole_proxy.py CONTROL_DIR LISTEN_PORT:TARGET_HOST:TARGET_PORT [...]

While the file CONTROL_DIR/cut exists the proxy behaves like a cable pulled out: bytes of open
connections are neither read nor forwarded (peers see silence, no FIN, no RST) and new
connections are accepted but never reach the target. When the file disappears the link is
healed: connections stalled during the cut are dropped (as TCP would after a long outage) and
new ones are forwarded again.
"""
import asyncio
import os
import sys

CONTROL = sys.argv[1]
CUT = os.path.join(CONTROL, "cut")


def is_cut():
    return os.path.exists(CUT)


async def pump(reader, writer, marks):
    """Copies reader to writer until EOF; during a cut copies nothing and marks the connection,
    which is dropped once the link is healed."""
    try:
        while True:
            if is_cut():
                marks.add(True)
                await asyncio.sleep(0.05)
                continue
            if marks:
                break
            try:
                data = await asyncio.wait_for(reader.read(65536), 0.1)
            except asyncio.TimeoutError:
                continue
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def handle(creader, cwriter, host, port):
    if is_cut():  # a connection opened during the cut: accepted, never forwarded
        while is_cut():
            await asyncio.sleep(0.05)
        cwriter.close()
        return
    try:
        ureader, uwriter = await asyncio.open_connection(host, port)
    except OSError:
        cwriter.close()
        return
    marks = set()  # shared by both directions: a connection that saw the cut is dropped whole
    await asyncio.gather(pump(creader, uwriter, marks), pump(ureader, cwriter, marks))


async def main():
    servers = []
    for spec in sys.argv[2:]:
        lport, host, port = spec.split(":")
        srv = await asyncio.start_server(
            lambda r, w, h=host, p=int(port): handle(r, w, h, p), "127.0.0.1", int(lport))
        servers.append(srv)
    with open(os.path.join(CONTROL, "ready"), "w") as f:
        f.write("ok\n")
    await asyncio.gather(*(s.serve_forever() for s in servers))


asyncio.run(main())
