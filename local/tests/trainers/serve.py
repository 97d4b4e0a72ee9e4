#!/usr/bin/env python3
"""An inference "container" for sfn-local's batch transform tests.

Run as `serve.py serve`, like `docker run <image> serve`. Listens on 127.0.0.1 at
SAGEMAKER_BIND_TO_PORT. GET /ping answers 200. POST /invocations records what it
received in $SM_ML_ROOT/received.jsonl, then, per SERVE_MODE:

- echo (default): one JSON line per input line: {"record": <line>, "model": <name
  from /opt/ml/model/model.json>}, joined with newlines (no trailing newline);
- fail: HTTP 500 with a message;
- die: exits the process;
- unhealthy: /ping answers 503 for ever.
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ML = os.environ.get("SM_ML_ROOT", "/opt/ml")
MODE = os.environ.get("SERVE_MODE", "echo")
LOCK = threading.Lock()

try:
    with open(os.path.join(ML, "model", "model.json")) as f:
        MODEL = json.load(f).get("name", "?")
except OSError:
    MODEL = None


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("serve: " + (fmt % args) + "\n")

    def answer(self, status, body, content_type="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/ping":
            self.answer(503 if MODE == "unhealthy" else 200, "")
        else:
            self.answer(404, "not found")

    def do_POST(self):
        if self.path != "/invocations":
            self.answer(404, "not found")
            return
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        with LOCK:
            with open(os.path.join(ML, "received.jsonl"), "a") as f:
                f.write(json.dumps({
                    "body": body,
                    "content_type": self.headers.get("Content-Type"),
                    "accept": self.headers.get("Accept"),
                    "env": {k: v for k, v in os.environ.items()
                            if k.startswith(("SAGEMAKER_", "SM_", "MODEL_", "JOB_"))},
                }) + "\n")
        if MODE == "fail":
            self.answer(500, "model exploded on purpose")
            return
        if MODE == "die":
            os._exit(7)
        lines = [json.dumps({"record": line, "model": MODEL}, sort_keys=True, separators=(",", ":"))
                 for line in body.split("\n")]
        self.answer(200, "\n".join(lines), "application/jsonlines")


def main():
    if sys.argv[-1] != "serve":
        print(f"expected `serve` as the last argument, got {sys.argv[1:]}", file=sys.stderr)
        return 64
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"serving on {port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
