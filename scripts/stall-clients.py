#!/usr/bin/env python3
"""Stalled clients, for the soak: connections that start a request and never finish it.

    stall-clients.py HOST INGEST_PORT QUERY_PORT SECONDS [UPLOADS] [HEADERS]

UPLOADS connections (default 64) to the OTLP/HTTP port send a whole header block announcing
a 1,000,000-byte body, then nothing; HEADERS connections (default 200) to the query port
send half a header block, then nothing. Whenever the server closes one, it is opened again,
so the server faces that many stalled clients for the whole run. At the end prints one line:
how many were opened, how many the server closed, and the longest a connection stayed open.
"""

import selectors
import socket
import sys
import time

UPLOAD = (
    b"POST /v1/traces HTTP/1.1\r\nHost: soak\r\n"
    b"Content-Type: application/x-protobuf\r\nContent-Length: 1000000\r\n\r\n"
)
HALF_HEADER = b"GET /api/search?q=%7B%7D HTTP/1.1\r\nHost: so"


def main():
    host, ingest, query, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    uploads = int(sys.argv[5]) if len(sys.argv) > 5 else 64
    headers = int(sys.argv[6]) if len(sys.argv) > 6 else 200
    sel = selectors.DefaultSelector()
    opened = closed = failed = 0
    longest = 0.0

    def open_one(port, first):
        nonlocal opened, failed
        try:
            s = socket.create_connection((host, port), timeout=2)
            s.sendall(first)
            s.setblocking(False)
        except OSError:
            failed += 1
            return False
        sel.register(s, selectors.EVENT_READ, (port, first, time.monotonic()))
        opened += 1
        return True

    wanted = [(ingest, UPLOAD)] * uploads + [(query, HALF_HEADER)] * headers
    missing = list(wanted)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        # Reopen what was closed (or could not connect: the server may be restarting).
        still = []
        for port, first in missing:
            if not open_one(port, first):
                still.append((port, first))
        missing = still
        for key, _ in sel.select(timeout=0.5 if not missing else 0.1):
            s = key.fileobj
            port, first, since = key.data
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                # An answer (408, 400): read on until the server closes.
                continue
            sel.unregister(s)
            s.close()
            closed += 1
            longest = max(longest, time.monotonic() - since)
            missing.append((port, first))
        if missing:
            time.sleep(0.2)
    for key in list(sel.get_map().values()):
        longest = max(longest, time.monotonic() - key.data[2])
        key.fileobj.close()
    print(
        f"stalled clients: opened={opened} closed_by_server={closed} "
        f"connect_failures={failed} longest_open_s={longest:.1f}"
    )


if __name__ == "__main__":
    main()
