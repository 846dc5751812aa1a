"""A local SMTP server for the delivery tests (aiosmtpd), that can refuse or stall on command."""

import asyncio
import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Mailbox:
    """What the server received. `refuse` answers 451 to the next DATA commands (one per count);
    `stall` makes the next DATA wait that many seconds, then answer 451 (a client that dies meanwhile
    never got a 250)."""

    messages: list = field(default_factory=list)
    refuse: int = 0
    stall: float = 0.0
    data_commands: int = 0
    stalled: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):
        self.data_commands += 1
        if self.stall:
            delay, self.stall = self.stall, 0.0
            self.stalled.set()
            await asyncio.sleep(delay)
            return "451 4.3.0 Stalled on purpose"
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 Try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.mailbox = Mailbox()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> "SmtpServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
