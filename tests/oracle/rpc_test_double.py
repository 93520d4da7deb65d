#!/usr/bin/python3
"""Test double for tests/oracle/test_rpc.c: a tiny JSON-RPC-over-HTTP server on 127.0.0.1 whose
replies follow a script, so the client's retry and backoff logic can be checked on loopback.

usage: rpc_test_double.py STEP[,STEP...]
Each request takes the next step; the last step repeats. Steps:
  200      a JSON-RPC result "0x2a" for the request's id
  429      HTTP 429 (no Retry-After);  429ra1: HTTP 429 with "Retry-After: 1"
  503      HTTP 503;  500: HTTP 500
  404      HTTP 404 (not retried by the client)
  garbage  HTTP 200 with a body that is not JSON
  wrongid  a result for another id
  error    a JSON-RPC error object with code 3 and data
  close    closes the connection without replying
Prints the port on the first line of stdout once listening; exits when stdin closes.
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

steps = sys.argv[1].split(",")
count = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        global count
        length = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(length))
        step = steps[min(count, len(steps) - 1)]
        count += 1
        rid = req.get("id")
        if step == "200":
            self.reply(200, json.dumps({"jsonrpc": "2.0", "id": rid, "result": "0x2a"}))
        elif step == "429ra1":
            self.reply(429, "{}", [("Retry-After", "1")])
        elif step in ("429", "503", "500", "404"):
            self.reply(int(step), "{}")
        elif step == "garbage":
            self.reply(200, "<html>not json</html>")
        elif step == "wrongid":
            self.reply(200, json.dumps({"jsonrpc": "2.0", "id": 9999, "result": "0x1"}))
        elif step == "error":
            self.reply(200, json.dumps({"jsonrpc": "2.0", "id": rid, "error": {
                "code": 3, "message": "execution reverted", "data": "0x08c379a0"}}))
        elif step == "close":
            self.close_connection = True
            self.connection.shutdown(2)
        else:
            self.reply(500, "unknown step")


server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()  # the test closes our stdin to stop us
server.shutdown()
