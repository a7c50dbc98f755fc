"""Hostile socket input: every event a client sends is answered, `invalid` when it cannot be read
(nested too deep, too many items, not JSON, not UTF-8, a number too long), and the connection
stays usable. Only a frame over 64 KiB, text that is not UTF-8 or a packet that is not Socket.IO
at all ends the connection. Nothing a client sends makes the server log an error or a traceback.

python-socketio's client cannot send most of this, so these tests speak Engine.IO/Socket.IO over
a bare websocket, against a server of their own that logs at INFO into a file they read."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hugmood.core.validation import MAX_DEPTH, MAX_ITEMS, Unreadable, limits_broken
from realtime.handlers import EVENTS
from realtime.server import MAX_MESSAGE_BYTES
from realtime.transport import jsoncodec
from tests.conftest import (
    LoggedServer,
    Stack,
    fake_ip,
    faults,
    logged_server,
    register,
)

# High enough that no fuzz example is rate limited instead of read.
RATES = {"RATE_SOCKET_EVENTS": "1000000/60", "RATE_HUG_SEND": "1000000/60"}
# The codes of a client's mistake; never `internal` (or `unavailable`) for what a client sends.
REFUSALS = {"invalid", "unauthorized", "forbidden", "not_found", "conflict", "rate_limited"}
DEEP = "[" * 1000 + "]" * 1000
TOO_DEEP = {"code": "invalid", "message": f"payload nests deeper than {MAX_DEPTH} levels"}
NOT_JSON = {"code": "invalid", "message": "payload is not valid JSON"}


@pytest.fixture(scope="module")
async def server(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    async with logged_server(stack, tmp_path_factory.mktemp("hostile-events"), **RATES) as server:
        yield server


@pytest.fixture(scope="module")
async def token(server: LoggedServer) -> str:
    async with httpx.AsyncClient(
        base_url=server.node.url, headers={"X-Forwarded-For": fake_ip()}
    ) as api:
        return (await register(api))["access_token"]


class RawSocket:
    """A bare websocket speaking Engine.IO/Socket.IO by hand, connected as a user, to send what
    python-socketio's client cannot: invalid UTF-8, any nesting, broken packets."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    @classmethod
    async def open(cls, server: LoggedServer, token: str) -> RawSocket:
        url = server.node.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        raw = cls(await connect(url, max_size=None))
        assert (await raw.next()).startswith("0{")
        await raw.ws.send("40" + json.dumps({"token": token}))
        seen: set[str] = set()
        while seen != {"40", "hello"}:  # CONNECT and `hello`, in either order
            frame = await raw.next()
            seen |= {"40"} if frame.startswith("40{") else set()
            seen |= {"hello"} if frame.startswith('42["hello"') else set()
        return raw

    async def next(self) -> str | bytes:
        while (frame := await asyncio.wait_for(self.ws.recv(), 5)) == "2":
            await self.ws.send("3")  # Engine.IO ping
        return frame

    async def ask(self, event_array: str, *attachments: bytes) -> Any:
        """Send `event_array` (`["name", payload]` as JSON text) as an event with an ack id
        (binary attachments after it, if any); returns the ack's payload."""
        ack = next(self._ids)
        head = f"45{len(attachments)}-" if attachments else "42"
        await self.ws.send(f"{head}{ack}{event_array}")
        for attachment in attachments:
            await self.ws.send(attachment)
        while not isinstance(frame := await self.next(), str) or not frame.startswith(f"43{ack}["):
            pass
        (answer,) = json.loads(frame[len(f"43{ack}") :])
        return answer

    async def closed(self) -> int | None:
        """Wait for the server to end the connection; its close code."""
        with pytest.raises(ConnectionClosed):
            while True:
                await self.next()
        return self.ws.close_code


@pytest.fixture
async def open_socket(
    server: LoggedServer, token: str
) -> AsyncIterator[Callable[[], Awaitable[RawSocket]]]:
    """`await open_socket()` -> a new connection of the module's user, closed after the test."""
    opened: list[RawSocket] = []

    async def open_one() -> RawSocket:
        opened.append(await RawSocket.open(server, token))
        return opened[-1]

    yield open_one
    for raw in opened:
        await raw.ws.close()


async def still_usable(raw: RawSocket) -> None:
    assert await raw.ask('["presence:set",{"status":"online"}]') == {"ok": True}


def event(name: str, payload_text: str) -> str:
    return f"[{json.dumps(name)},{payload_text}]"


@pytest.mark.parametrize("name", sorted(EVENTS))
async def test_nesting_1000_deep_is_answered_invalid_for_every_event(
    server, open_socket, name
) -> None:
    mark = server.mark()
    raw = await open_socket()
    assert await raw.ask(event(name, DEEP)) == {"ok": False, "error": TOO_DEEP}
    await still_usable(raw)
    assert faults(server.since(mark)) == []


async def test_the_depth_limit_counts_the_event_array_as_a_level(server, open_socket) -> None:
    mark = server.mark()
    raw = await open_socket()
    at_limit = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)  # with the event's array: 32
    answer = await raw.ask(event("presence:set", at_limit))
    assert answer == {
        "ok": False,
        "error": {"code": "invalid", "message": "Expected `object`, got `array`"},
    }
    over = "[" + at_limit + "]"
    assert await raw.ask(event("presence:set", over)) == {"ok": False, "error": TOO_DEEP}
    inside_a_string = json.dumps({"status": DEEP})  # brackets in strings are not structure
    answer = await raw.ask(event("presence:set", inside_a_string))
    assert answer["error"]["field"] == "status"
    assert faults(server.since(mark)) == []


async def test_too_many_items_are_answered_invalid(server, open_socket) -> None:
    mark = server.mark()
    raw = await open_socket()
    many = json.dumps({"to": ["00000000-0000-0000-0000-000000000000"] * MAX_ITEMS})
    answer = await raw.ask(event("hug:request", many))
    message = f"payload holds more than {MAX_ITEMS} items"
    assert answer == {"ok": False, "error": {"code": "invalid", "message": message}}
    fifty = json.dumps({"to": ["00000000-0000-0000-0000-000000000000"] * 51})
    answer = await raw.ask(event("hug:request", fifty))  # read, then refused by its bounds
    assert answer["error"] == {
        "code": "invalid",
        "message": "Expected `array` of length <= 50",
        "field": "to",
    }
    await still_usable(raw)
    assert faults(server.since(mark)) == []


@pytest.mark.parametrize(
    "payload",
    ['{"status":}', '{"status":"away"', '{"status":"away"}]]', "{'status':'away'}", "away"],
)
async def test_an_event_that_is_not_json_is_answered_invalid(server, open_socket, payload) -> None:
    mark = server.mark()
    raw = await open_socket()
    assert await raw.ask(f'["presence:set",{payload}]') == {"ok": False, "error": NOT_JSON}
    await still_usable(raw)
    assert faults(server.since(mark)) == []


async def test_an_unknown_event_with_an_unreadable_payload_is_answered_unknown(
    server, open_socket
) -> None:
    mark = server.mark()
    raw = await open_socket()
    answer = await raw.ask(event("no:such:event", DEEP))
    error = {"code": "invalid", "message": "unknown event 'no:such:event'"}
    assert answer == {"ok": False, "error": error}
    await still_usable(raw)
    assert faults(server.since(mark)) == []


async def test_a_number_too_long_to_read_is_answered_invalid(server, open_socket) -> None:
    mark = server.mark()
    raw = await open_socket()
    answer = await raw.ask(event("sync", '{"since":' + "9" * 5000 + "}"))
    message = "payload has a number too large to read"
    assert answer == {"ok": False, "error": {"code": "invalid", "message": message}}
    answer = await raw.ask(event("ack", '{"seq":' + "9" * 40 + "}"))  # read; out of range
    assert (answer["ok"], answer["error"]["code"], answer["error"]["field"]) == (
        False,
        "invalid",
        "seq",
    )
    await still_usable(raw)
    assert faults(server.since(mark)) == []


async def test_invalid_utf8_in_a_binary_attachment_is_answered_invalid(server, open_socket) -> None:
    mark = server.mark()
    raw = await open_socket()
    placeholder = '["presence:set",{"status":{"_placeholder":true,"num":0}}]'
    answer = await raw.ask(placeholder, b"\xff\xfe not UTF-8")
    error = {"code": "invalid", "message": "Expected `str`, got `bytes`", "field": "status"}
    assert answer == {"ok": False, "error": error}
    await still_usable(raw)
    assert faults(server.since(mark)) == []


async def test_a_text_frame_that_is_not_utf8_closes_with_1007(server, open_socket) -> None:
    raw = await open_socket()
    healthy = await open_socket()
    await raw.ws.send(b'421["presence:set",{"status":"\xff"}]', text=True)
    assert await raw.closed() == 1007  # RFC 6455 8.1: the websocket layer refuses it
    await still_usable(healthy)
    await still_usable(await open_socket())


async def test_a_text_frame_that_is_not_utf8_is_one_info_line(server, open_socket) -> None:
    mark = server.mark()
    raw = await open_socket()
    await raw.ws.send(b'421["presence:set",{"status":"\xff"}]', text=True)
    await raw.closed()
    assert faults(server.since(mark)) == []


@pytest.mark.parametrize(
    "frame",
    [
        "x",  # not an Engine.IO packet
        "",
        "4x",  # not a Socket.IO packet
        b'421["presence:set",{"status":"\xff"}]',  # not attachment
        "421{}",  # an event is an array
        "421[]",
        "421[" + DEEP + "]",  # no event name to read
        "421[",
        "47",  # no such packet type
        "421" + "1" * 200 + "[]",  # id too long
    ],
)
async def test_a_packet_that_is_not_socketio_closes_with_one_info_line(
    server, open_socket, frame
) -> None:
    mark = server.mark()
    raw = await open_socket()
    await raw.ws.send(frame)
    await raw.closed()
    await still_usable(await open_socket())
    lines = server.since(mark)
    assert faults(lines) == []
    closing = [line for line in lines if "closing" in json.loads(line)["msg"]]
    assert len(closing) == 1 and json.loads(closing[0])["level"] == "info"


async def test_an_event_name_that_is_not_a_string_is_answered_invalid(server, open_socket) -> None:
    mark = server.mark()
    raw = await open_socket()
    answer = await raw.ask('[["presence:set"],{"status":"away"}]')
    assert answer == {
        "ok": False,
        "error": {"code": "invalid", "message": "unknown event ['presence:set']"},
    }
    assert faults(server.since(mark)) == []


@pytest.mark.parametrize("depth", [40_000, 100_000])
async def test_a_frame_over_64_kib_closes_only_that_connection(server, open_socket, depth) -> None:
    mark = server.mark()
    healthy = await open_socket()
    raw = await open_socket()
    await raw.ws.send("421" + event("presence:set", "[" * depth + "]" * depth))
    assert await raw.closed() == 1009  # message too big, refused before it is buffered
    await still_usable(healthy)
    await still_usable(await open_socket())
    assert faults(server.since(mark)) == []


# Random JSON, then made hostile: nested, cut, padded, given extra arguments.
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**18, max_value=10**60)
    | st.floats()  # NaN and Infinity are not JSON at all
    | st.text(st.characters() | st.characters(categories=["Cs"]), max_size=20)  # surrogates
    | st.sampled_from(["away", "friends", "00000000-0000-0000-0000-000000000000", "\x00"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=40,
)


@st.composite
def hostile_events(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from([*sorted(EVENTS), "no:such:event"]))
    fields = list(msgspec.structs.fields(EVENTS[name].payload)) if name in EVENTS else []
    payload = draw(
        _VALUES
        | st.dictionaries(st.sampled_from([f.name for f in fields] or ["x"]), _VALUES, max_size=4)
    )
    text = json.dumps(payload, ensure_ascii=draw(st.booleans()))
    if not text.isascii() and not _encodable(text):
        text = json.dumps(payload)  # a lone surrogate goes as an escape, as browsers send it
    shape = draw(st.sampled_from(["as is", "nested", "cut", "long", "many", "extra"]))
    if shape == "nested":
        depth = draw(st.integers(0, 20_000))
        text = "[" * depth + text + "]" * depth
    elif shape == "cut":
        text = text[: draw(st.integers(0, len(text)))] + draw(st.sampled_from(["", "}", ",", "]]"]))
    elif shape == "long":
        text = json.dumps({f.name: "x" * draw(st.integers(0, 60_000)) for f in fields[:1]})
    elif shape == "many":
        text = json.dumps([0] * draw(st.integers(MAX_ITEMS - 10, MAX_ITEMS + 10)))
    elif shape == "extra":
        text = f"{text},{text}"
    return name, text


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@pytest.fixture
async def raw(open_socket: Callable[[], Awaitable[RawSocket]]) -> RawSocket:
    """One connection for all of a test's examples: each must leave it usable."""
    return await open_socket()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hostile=hostile_events())
async def test_every_event_answers_random_and_hostile_payloads(server, raw, hostile) -> None:
    name, text = hostile
    frame = event(name, text)
    assume(len(frame.encode()) < MAX_MESSAGE_BYTES - 16)
    mark = server.mark()
    answer = await raw.ask(frame)
    assert isinstance(answer, dict) and isinstance(answer.get("ok"), bool), answer
    if not answer["ok"]:
        assert answer["error"]["code"] in REFUSALS, answer
    assert faults(server.since(mark)) == []


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        value = list(value.values())
    return 1 + max(map(_depth, value), default=0) if isinstance(value, list) else 0


@settings(max_examples=500, deadline=None)
@given(document=_VALUES, wrap=st.integers(0, 40))
def test_the_limits_match_the_decoded_document(document, wrap) -> None:
    for _ in range(wrap):
        document = [document]
    text = json.dumps(document, ensure_ascii=False)

    broken = limits_broken(text)
    if _depth(document) > MAX_DEPTH:
        assert broken == f"nests deeper than {MAX_DEPTH} levels"
    else:
        assert broken is None  # the values are too few to reach MAX_ITEMS


def test_the_codec_refuses_what_is_not_an_event_as_json_does() -> None:
    # python-engineio reads its own packets with the codec and keeps text it refuses as text.
    for text in ("probe", "{" * 1000, '{"a":', "[", "[" + DEEP + "]", '[1,"x"'):
        with pytest.raises(ValueError):
            jsoncodec.loads(text)
    assert jsoncodec.loads('["x",{"a":[1]}]') == ["x", {"a": [1]}]
    assert jsoncodec.loads(event("x", DEEP)) == ["x", Unreadable(TOO_DEEP["message"])]
    # Pub/sub messages of our own processes (bytes) are not held to the client limits.
    decoded = jsoncodec.loads(DEEP[:100].encode() + DEEP[-100:].encode())
    for _ in range(99):
        (decoded,) = decoded
    assert decoded == []
