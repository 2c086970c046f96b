"""A webhook receiver for the tests: Python's own HTTP server on loopback, told how to behave.

Every POST is checked against the shared secret with Python's `hmac` (an implementation of
HMAC-SHA256 independent of the worker's) and written as one JSON line to --log: the delivery
id, whether the signature held, the status answered and the body. `POST /_mode` with `ok`,
`fail` (500) or `slow` (answers after --delay seconds) changes how it answers from then on.
With --cert and --key it speaks TLS.
"""

import argparse
import hashlib
import hmac
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--secret-file")
    ap.add_argument("--mode", default="ok", choices=["ok", "fail", "slow"])
    ap.add_argument("--delay", type=float, default=0.5)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()
    secret = None
    if args.secret_file:
        with open(args.secret_file, "rb") as f:
            secret = f.read().rstrip(b"\r\n")
    state = {"mode": args.mode}
    lock = threading.Lock()
    log = open(args.log, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def answer(self, status, text=b""):
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            if self.path == "/_mode":
                state["mode"] = body.decode().strip()
                self.answer(200, b"ok")
                return
            mode = state["mode"]
            if mode == "slow":
                time.sleep(args.delay)
            status = 500 if mode == "fail" else 204
            sig_ok = None
            if secret is not None:
                want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
                got = self.headers.get("X-Rtsp-Worker-Signature-256", "")
                sig_ok = hmac.compare_digest(want, got)
                if not sig_ok:
                    status = 401
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            with lock:
                log.write(json.dumps({
                    "delivery": self.headers.get("X-Rtsp-Worker-Delivery"),
                    "path": self.path,
                    "signature_ok": sig_ok,
                    "status": status,
                    "mode": mode,
                    "body": parsed,
                }) + "\n")
                log.flush()
            self.answer(status)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("listening", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
