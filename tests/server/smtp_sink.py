#!/usr/bin/python3
"""A real SMTP server for the mail tests (Debian's python3-aiosmtpd).

    /usr/bin/python3 tests/server/smtp_sink.py --port 2525 --dir /tmp/sink

Accepts every message on 127.0.0.1:<port> and saves each one as <n>.eml (the
bytes received) and <n>.json (envelope and the message as Python's e-mail
package decodes it: an independent check of our MIME encoding). The .json is
written last, atomically, so a test that sees it can read both. Runs until
SIGTERM or SIGINT.
"""
import argparse
import email
import email.policy
import json
import os
import signal
import threading

from aiosmtpd.controller import Controller


class SaveHandler:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        with self.lock:
            self.count += 1
            base = os.path.join(self.folder, "%d-%d" % (os.getpid(), self.count))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "date": str(message["Date"]),
            "message_id": str(message["Message-ID"]),
            "content_type": message.get_content_type(),
            "charset": message.get_content_charset(),
            "body": body.get_content() if body is not None else None,
            "defects": [type(d).__name__ for d in message.defects],
        }
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        with open(base + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    controller = Controller(SaveHandler(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    try:
        while not stop.wait(0.2):
            pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
