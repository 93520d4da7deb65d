"""tcp_forward.py LISTEN_PORT TARGET_PORT

Forwards every TCP connection made to 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT, both ways,
until it is killed. The node's tests put it between the node's JSON-RPC (HTTP) client and anvil
and stop it to cut that path alone: the websocket goes to anvil directly and stays up, so the
node keeps seeing blocks and events while its sends fail in transport.
"""
import socket
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(64)
    while True:
        client, _ = srv.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", target_port))
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


if __name__ == "__main__":
    main()
