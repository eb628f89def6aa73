#!/usr/bin/env bash
# UDP checks on 127.0.0.1 for the demo scripts (exit status 0 means yes):
#   scripts/demo-ports.sh free PORT...    every PORT can be bound (nobody else listens there)
#   scripts/demo-ports.sh answers PORT    a SIP OPTIONS sent to PORT gets 200 OK within 0.3 s
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -ge 2 && ($1 == free || $1 == answers) ]] || die "usage: demo-ports.sh free PORT... | answers PORT"
exec "$ROOT/.venv/bin/python" - "$@" <<'PY'
import socket
import sys
import uuid

verb, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]


def free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.3)
        local = sock.getsockname()[1]
        request = (
            f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
            f"From: <sip:probe@127.0.0.1:{local}>;tag={uuid.uuid4().hex[:8]}\r\nTo: <sip:127.0.0.1:{port}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(request.encode(), ("127.0.0.1", port))
        try:
            return sock.recv(65535).startswith(b"SIP/2.0 200")
        except OSError:
            return False


if verb == "free":
    taken = [port for port in ports if not free(port)]
    if taken:
        print(f"UDP ports taken on 127.0.0.1: {', '.join(map(str, taken))}", file=sys.stderr)
    sys.exit(1 if taken else 0)
sys.exit(0 if answers(ports[0]) else 1)
PY
