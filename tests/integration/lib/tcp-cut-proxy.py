#!/usr/bin/python3
"""A loopback TCP proxy whose connections a test can cut: the node's websocket goes through it so
that the test decides when the node stops hearing the chain, without stopping anvil.

  tcp-cut-proxy.py LISTEN_PORT TARGET_PORT READY_FILE

SIGUSR1 cuts: every open connection is closed at once, and connections made while cut are
accepted and closed straight away (the client sees its handshake fail and retries).
SIGUSR2 lets connections through again. The proxy writes READY_FILE once it listens."""
import signal
import socket
import sys
import threading

listen_port, target_port, ready_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
open_socks = set()
cut = False


def close_all():
    with lock:
        socks = list(open_socks)
        open_socks.clear()
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def on_cut(signum, frame):
    global cut
    cut = True
    close_all()


def on_resume(signum, frame):
    global cut
    cut = False


def pump(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(client):
    try:
        upstream = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    with lock:
        open_socks.update((client, upstream))
    threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


signal.signal(signal.SIGUSR1, on_cut)
signal.signal(signal.SIGUSR2, on_resume)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen_port))
srv.listen(16)
srv.settimeout(0.1)  # signals are handled between accepts
with open(ready_file, "w") as f:
    f.write("ready\n")
while True:
    try:
        c, _ = srv.accept()
    except socket.timeout:
        continue
    except InterruptedError:
        continue
    if cut:
        c.close()
    else:
        serve(c)
