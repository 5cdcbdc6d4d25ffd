"""The SMTP server of casedesk's email tests: aiosmtpd on a loopback port.

Every accepted message is written to OUT_DIR as one JSON file holding the envelope sender,
the envelope recipients and the message as received. A recipient whose local part starts
with "refuse" is refused for good (550), one starting with "later" is refused for now (451),
so the tests can watch retries and permanent failures. Prints "READY <port>" when listening.

With TLS_DIR (holding server.pem and server.key), the server requires STARTTLS and then
authentication as casedesk / relay-secret, and records who authenticated.

With the environment variable SINK_PORT, it listens on that port (a relay that comes back
on the address casedesk has been retrying).

usage: sink.py OUT_DIR [TLS_DIR]
"""

import json
import os
import socket
import sys
import uuid

import ssl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, out_dir):
        self.out_dir = out_dir

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("refuse"):
            return "550 5.1.1 no such mailbox here"
        if local.startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = f"{uuid.uuid4().hex}.json"
        tmp = os.path.join(self.out_dir, "." + name)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "data": envelope.original_content.decode("utf-8", "replace"),
                    "tls": session.ssl is not None,
                    "login": session.auth_data.decode() if isinstance(session.auth_data, bytes) else None,
                },
                f,
            )
        os.rename(tmp, os.path.join(self.out_dir, name))
        return "250 2.0.0 accepted"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"casedesk"
        and auth_data.password == b"relay-secret"
    )
    # handled=False: a refusal is answered with 535 (aiosmtpd would otherwise stay silent).
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


def main():
    out_dir = sys.argv[1]
    tls_dir = sys.argv[2] if len(sys.argv) > 2 else None
    os.makedirs(out_dir, exist_ok=True)
    # aiosmtpd's controller connects to its own port to see that it is up, so it needs the
    # number beforehand: take a free one from the system.
    if os.environ.get("SINK_PORT"):
        port = int(os.environ["SINK_PORT"])
    else:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
    extra = {}
    if tls_dir:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(os.path.join(tls_dir, "server.pem"), os.path.join(tls_dir, "server.key"))
        extra = dict(
            tls_context=ctx,
            require_starttls=True,
            authenticator=authenticator,
            auth_require_tls=True,
            auth_required=True,
        )
    controller = Controller(Sink(out_dir), hostname="127.0.0.1", port=port, **extra)
    controller.start()
    print(f"READY {port}", flush=True)
    try:
        # Ends when the test closes our stdin (or kills us).
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
