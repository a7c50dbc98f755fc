"""Local stand-ins for Apple's and Google's push services, speaking their real protocols.

`FakeApns` is an HTTP/2 server over TLS (hypercorn, a trustme certificate), as aioapns expects
api.push.apple.com to be; `FakeFcm` serves the FCM HTTP v1 send endpoint and the OAuth 2.0
token endpoint that google-auth posts the service account's signed assertion to. Each runs in a
thread with its own event loop (google-auth refreshes tokens with blocking requests), records
what it received and answers from a per-token plan (default: success). The push benchmark
(`loadtests/bench/push.py`) measures a worker against them too.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, RequestReceived, StreamEnded
from hypercorn.asyncio import serve
from hypercorn.config import Config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


APNS_TEAM_ID = "TEAM123456"
APNS_KEY_ID = "KEY1234567"
APNS_TOPIC = "app.hugmood.ios"
FCM_PROJECT = "hugmood-test"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.time() when it arrived


@dataclass
class Answer:
    status: int
    reason: str = ""  # APNs reason / FCM errorCode
    headers: dict[str, str] = field(default_factory=dict)


class _Server:
    """A server on a thread of its own; `handle` answers each request."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.plans: dict[str, deque[Answer]] = defaultdict(deque)
        self.delay = 0.0  # seconds before each answer (to see requests in flight)
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            await self.serve(self._stop, self._ready)

        asyncio.run(main())

    async def serve(self, stop: asyncio.Event, ready: threading.Event) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def plan(self, token: str, *answers: Answer) -> None:
        """Answer the next requests for `token` with `answers`, in order; then success."""
        self.plans[token].extend(answers)

    def reset(self) -> None:
        self.received.clear()
        self.plans.clear()
        self.delay, self.max_in_flight = 0.0, 0

    def to(self, token: str) -> list[Received]:
        return [r for r in self.received if r.path.endswith(token) or _token_of(r) == token]

    async def answer(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict, bytes]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return self.handle(path, headers, raw)
        finally:
            self.in_flight -= 1

    async def _app(self, scope: dict, receive: Any, send: Any) -> None:
        """The ASGI app of the subclasses served by hypercorn."""
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        status, out_headers, body = await self.answer(scope["path"], headers, raw)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in out_headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, bytes]:
        raise NotImplementedError


def _token_of(received: Received) -> str | None:
    body = received.body
    return body.get("message", {}).get("token") if isinstance(body, dict) else None


class _H2Server(asyncio.Protocol):
    """HTTP/2 as APNs speaks it: a 200 is headers alone, a refusal headers and a JSON reason
    (aioapns parses every DATA frame it gets as JSON)."""

    def __init__(self, fake: FakeApns) -> None:
        self.fake = fake
        self.conn = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.tasks: set[asyncio.Task] = set()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.conn.initiate_connection()
        transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, RequestReceived):
                self.streams[event.stream_id] = (dict(event.headers), bytearray())
            elif isinstance(event, DataReceived):
                self.streams[event.stream_id][1].extend(event.data)
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded):
                task = asyncio.ensure_future(self.respond(event.stream_id))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        self.transport.write(self.conn.data_to_send())

    async def respond(self, stream_id: int) -> None:
        headers, body = self.streams.pop(stream_id)
        status, out, payload = await self.fake.answer(headers[":path"], headers, bytes(body))
        response = [(":status", str(status)), *out.items()]
        self.conn.send_headers(stream_id, response, end_stream=not payload)
        if payload:
            self.conn.send_data(stream_id, payload, end_stream=True)
        self.transport.write(self.conn.data_to_send())


class FakeApns(_Server):
    """POST /3/device/<token> with apns-* headers and a provider JWT (ES256, kid, iss)."""

    def __init__(self, directory: Path) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        self.ca_file = directory / "apns-ca.pem"
        chain = directory / "apns-cert.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
        key = ec.generate_private_key(ec.SECP256R1())
        self.key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self.key_file = directory / "AuthKey.p8"
        self.key_file.write_text(self.key_pem)
        self._public = key.public_key()
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self._tls)
        self._tls.set_alpn_protocols(["h2"])
        self.port = free_port()
        super().__init__()

    async def serve(self, stop: asyncio.Event, ready: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _H2Server(self), "127.0.0.1", self.port, ssl=self._tls
        )
        ready.set()
        await stop.wait()
        server.close()

    def env(self) -> dict[str, str]:
        return {
            "APNS_KEY_FILE": str(self.key_file),
            "APNS_KEY_ID": APNS_KEY_ID,
            "APNS_TEAM_ID": APNS_TEAM_ID,
            "APNS_TOPIC": APNS_TOPIC,
            "APNS_ENDPOINT": f"127.0.0.1:{self.port}",
            "APNS_CA_FILE": str(self.ca_file),
        }

    def claims(self, received: Received) -> tuple[dict, dict]:
        """The provider token's header and verified claims."""
        token = received.headers["authorization"].removeprefix("bearer ")
        return jwt.get_unverified_header(token), jwt.decode(
            token, self._public, algorithms=["ES256"]
        )

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, bytes]:
        self.received.append(Received(path, headers, json.loads(raw), time.time()))
        token = path.rsplit("/", 1)[-1]
        plan = self.plans.get(token)
        answer = plan.popleft() if plan else Answer(200)
        out = {"apns-id": headers.get("apns-id", ""), **answer.headers}
        if answer.status == 200:
            return 200, out, b""
        return answer.status, out, json.dumps({"reason": answer.reason}).encode()


class FakeFcm(_Server):
    """The OAuth token endpoint (JWT-bearer grant signed with the service account's key) and
    POST /v1/projects/<project>/messages:send authorised by the tokens it issued."""

    def __init__(self, directory: Path) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public = key.public_key()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.service_account = {
            "type": "service_account",
            "project_id": FCM_PROJECT,
            "private_key_id": "test-key-1",
            "private_key": key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            "client_email": f"push@{FCM_PROJECT}.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": f"{self.url}/token",
        }
        self.credentials_file = directory / "fcm-service-account.json"
        self.credentials_file.write_text(json.dumps(self.service_account))
        self.assertions: list[dict] = []
        self.issued: set[str] = set()
        super().__init__()

    async def serve(self, stop: asyncio.Event, ready: threading.Event) -> None:
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.loglevel = "WARNING"
        ready.set()
        await serve(self._app, config, shutdown_trigger=stop.wait)

    def env(self) -> dict[str, str]:
        return {"FCM_CREDENTIALS_FILE": str(self.credentials_file), "FCM_ENDPOINT": self.url}

    def sends(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("messages:send")]

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, bytes]:
        if path == "/token":
            form = dict(urllib.parse.parse_qsl(raw.decode()))
            claims = jwt.decode(
                form["assertion"], self._public, algorithms=["RS256"], options={"verify_aud": False}
            )
            self.assertions.append({"grant_type": form["grant_type"], **claims})
            token = f"fake-access-{len(self.issued)}"
            self.issued.add(token)
            body = {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
            return 200, {"content-type": "application/json"}, json.dumps(body).encode()
        body = json.loads(raw)
        self.received.append(Received(path, headers, body, time.time()))
        if headers.get("authorization", "").removeprefix("Bearer ") not in self.issued:
            return _fcm_error(401, "UNAUTHENTICATED", "")
        token = body["message"]["token"]
        plan = self.plans.get(token)
        answer = plan.popleft() if plan else Answer(200)
        if answer.status == 200:
            name = f"projects/{FCM_PROJECT}/messages/{len(self.received)}"
            return 200, {"content-type": "application/json"}, json.dumps({"name": name}).encode()
        status, out, payload = _fcm_error(answer.status, answer.reason, "")
        return status, {**out, **answer.headers}, payload


_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _fcm_error(status: int, error_code: str, message: str) -> tuple[int, dict, bytes]:
    details = (
        [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}]
        if error_code
        else []
    )
    error = {
        "code": status,
        "message": message or error_code,
        "status": _STATUS.get(status, "UNKNOWN"),
        "details": details,
    }
    return status, {"content-type": "application/json"}, json.dumps({"error": error}).encode()
