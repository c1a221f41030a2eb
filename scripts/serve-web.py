#!/usr/bin/env python3
"""Serves the browser build (web/dist) on loopback for `make web`, as a host should serve it.

- The compressed copies the build writes beside the big files (`.br`, `.gz`) are sent as they are, with
  Content-Encoding, to a browser that accepts them: the wasm crosses the wire at a fraction of its size.
- The page is cross-origin isolated (Cross-Origin-Opener-Policy and -Embedder-Policy), which browsers ask
  before they give a page SharedArrayBuffer: what a lock-free ring between the page and an AudioWorklet needs.
  Everything the page loads is its own (same origin), so isolation costs it nothing.
- The right types (application/wasm for streaming compilation), no caching while developing.

Usage: serve-web.py [DIR] [--port 8080] [--bind 127.0.0.1]
"""

import argparse
import functools
import http.server
import os
import sys

ISOLATION = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}
TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".ron": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".ogg": "audio/ogg",
    ".json": "application/json",
}
# Preferred first.
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def end_headers(self):
        for name, value in ISOLATION.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def send_head(self):
        path = self.translate_path(self.path)
        accepted = {
            part.split(";")[0].strip() for part in self.headers.get("Accept-Encoding", "").split(",") if part.strip()
        }
        if os.path.isfile(path):
            for encoding, suffix in ENCODINGS:
                packed = path + suffix
                if encoding in accepted and os.path.isfile(packed):
                    return self.send_packed(path, packed, encoding)
        return super().send_head()

    def send_packed(self, path, packed, encoding):
        try:
            f = open(packed, "rb")
        except OSError:
            return super().send_head()
        size = os.fstat(f.fileno()).st_size
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(size))
        self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        return f

    def log_message(self, format, *args):
        # Errors only: a page load is dozens of requests.
        if len(args) > 1 and str(args[1]).startswith(("4", "5")):
            super().log_message(format, *args)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "web", "dist"))
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--bind", default="127.0.0.1")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.dir, "index.html")):
        sys.exit(f"serve-web: {args.dir} has no index.html: run make web-build")
    handler = functools.partial(Handler, directory=args.dir)
    with http.server.ThreadingHTTPServer((args.bind, args.port), handler) as server:
        print(f"serving {os.path.abspath(args.dir)} on http://{args.bind}:{args.port} (Ctrl+C stops it)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
