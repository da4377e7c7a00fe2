"""A local HTTP server (in a thread) that serves files with Range support, for download
tests: never the internet."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Served:
    files: dict[str, bytes]  # URL path -> content
    cut_after: int | None = None  # the next response stops after this many bytes
    ranges: list[str | None] = field(default_factory=list)  # Range header of each request
    url: str = ""


class _Handler(BaseHTTPRequestHandler):
    served: Served

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        served = self.served
        served.ranges.append(self.headers.get("Range"))
        data = served.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if served.cut_after is not None:  # a dropped connection mid-file
            body, served.cut_after = body[: served.cut_after], None
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def http_server(files: dict[str, bytes], cut_after: int | None = None) -> Iterator[Served]:
    served = Served(files, cut_after)
    handler = type("Handler", (_Handler,), {"served": served})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
