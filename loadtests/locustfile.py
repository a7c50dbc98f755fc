"""Locust users speaking HugMood's real protocol (REST + Socket.IO over websocket).

Run headless against a deployment (here a local one):

    locust -f loadtests/locustfile.py --headless -u 200 -r 20 -t 1m --host http://127.0.0.1:8000

Install Locust in its own virtualenv, never in the app's or the tests' (it monkey-patches the
standard library with gevent):

    python3 -m venv /tmp/locustvenv && /tmp/locustvenv/bin/pip install -e '.[load]' \
        'python-socketio[client]'

The target must raise its abuse limits for a load test, or most users get `rate_limited`: start
the web processes with e.g.

    RATE_REGISTER_IP=100000/60 RATE_LOGIN_IP=100000/60 RATE_HUG_SEND=100000/60 \
    RATE_SOCKET_EVENTS=1000000/60 python -m realtime

(all simulated users come from one IP, and each user sends more than 60 hugs a minute).

Users:
- `SocketUser` registers over REST (or logs in when its name exists from an earlier run), opens
  its privacy to everyone, connects with its access token (websocket transport), follows up to
  `FOLLOWS` other socket users of this Locust process (`POST /users/{id}/follow`, topped up on
  every reconnect, so later users gain followers too), sends hugs to other online users with
  `hug:send` (fresh `client_id`), sets a random `presence:set` status, posts random moods with
  `mood:update`, follows the documented resume algorithm for every durable event (apply
  `seq == last + 1`, drop duplicates, `sync` on a gap), `ack`s what it applied, and now and then
  disconnects and resumes with `sync {since}`. Group hugs: now and then it creates one
  (`group_hug:create`) inviting up to 5 online users, joins every group hug it is invited to
  (`group_hug:join`, which starts it at once), squeezes while one is active
  (`group_hug:squeeze`), and samples the server clock (`time:sync`, 8 samples, estimated with
  `hugmood.group_hugs.clock`).
- `RestUser` does `GET /me`, `GET /hugs?box=inbox` and `POST /hugs` (the REST mirror).
- `CatalogUser` browses the catalog: searches as people type them (misspellings too), filtered
  lists with facets, the next page of what it saw, a fragrance's detail and the designs on
  offer (run it against a catalog with data, e.g. `make run`'s demo catalog).

Socket.IO figures appear in Locust's stats with request type `socketio`: `connect` (connect to
`hello`), `hug:send`, `presence:set`, `mood:update`, `ack` and `sync` (each send to its ack; a
`{ok: false}` answer or no answer within `CALL_TIMEOUT` is a failure), and what a user receives
from others, timed from the sender's send (sender and receiver run in the same Locust process,
so one clock):
- `hug.received (end-to-end)`: the send time travels in the hug's message;
- `mood.updated (end-to-end)`: the send time travels in the mood's note;
- `presence.changed (end-to-end)`: the event carries no client data, so the setter notes in this
  process which status it asked for and when, and a receiver matches `{user, status}` to it;
- `presence.changed (count only)`: the other changes (online on connect, offline after a
  disconnect's grace period, or a change already superseded), counted with a time of 0;
- `group_hug.pulse (after its slot)`: a pulse, timed from the end of the slot it counts (its
  `at`, server time: meaningful when Locust runs on the servers' machine or a synced clock);
- `time:sync offset`: the estimated offset to the server clock, as its "response time" (ms).

Environment: `HUGMOOD_LOAD_PREFIX` (default `load`) names the accounts `<prefix><worker>_<n>`, so
a rerun against the same database logs them in instead of registering; `HUGMOOD_LOAD_PASSWORD`.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
import uuid
from datetime import datetime
from typing import Any

import socketio
from locust import HttpUser, between, task

from hugmood.group_hugs.clock import Sample, estimate

PREFIX = os.environ.get("HUGMOOD_LOAD_PREFIX", "load")
PASSWORD = os.environ.get("HUGMOOD_LOAD_PASSWORD", "load-test-password")
EVERYONE = {
    "allow_hugs_from": "everyone",
    "show_mood_to": "everyone",
    "show_activity_to": "everyone",
}
CALL_TIMEOUT = 10
HUG_TYPES = ["warm", "bear", "side", "gentle", "comfort", "celebration", "healing"]
STATUSES = ["online", "away", "dnd"]  # what `presence:set` accepts (hugmood.models.PresenceSet)
MOODS = ["calm", "happy", "grateful", "excited", "tired", "anxious", "sad", "lonely", "angry"]
TAGS = ["work", "family", "friends", "sleep", "exercise", "weather", "music", "food"]
VISIBILITIES = ["everyone", "friends", "private"]
VISIBILITY_WEIGHTS = [3, 1, 1]  # mostly shared, so that followers get something
FOLLOWS = 5  # other socket users each socket user follows: the audience of its presence and moods

_serial = itertools.count()
online: list[str] = []  # user ids with a live socket in this Locust process: hug targets
known: list[str] = []  # every user id this process registered: REST hug targets
# user id -> (status, time.time()) of that user's last `presence:set` that changed its status,
# so that a receiver of the `presence.changed` it causes can time it (the event says only
# `{user, status, last_active}`); dropped on disconnect, when the status is the server's again.
presence_sent: dict[str, tuple[str, float]] = {}


def _epoch(text: str) -> float:
    """An ISO time from the server (`…Z`) as epoch seconds."""
    return datetime.fromisoformat(text).timestamp()


class SocketIOError(Exception):
    """A `{ok: false, error}` answer, or no answer at all."""


def _answer_error(answer: Any) -> Exception | None:
    if isinstance(answer, dict) and answer.get("ok"):
        return None
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    return SocketIOError(f"{error.get('code', 'no answer')}: {error.get('message', answer)}")


class Account(HttpUser):
    """Registers or logs in over REST and keeps the session."""

    abstract = True
    session: dict[str, Any]

    def username(self) -> str:
        runner = self.environment.runner
        worker = getattr(runner, "worker_index", 0) if runner is not None else 0
        return f"{PREFIX}{worker}_{next(_serial)}"

    def sign_in(self) -> None:
        name = self.username()
        body = {"username": name, "email": f"{name}@load.invalid", "password": PASSWORD}
        with self.client.post(
            "/auth/register", json=body, catch_response=True, name="/auth/register"
        ) as response:
            if response.status_code == 409:  # exists from an earlier run: log in instead
                response.success()
                response = self.client.post(
                    "/auth/login", json={"login": name, "password": PASSWORD}, name="/auth/login"
                )
            if response.status_code == 429:
                response.failure("rate limited: raise RATE_REGISTER_IP / RATE_LOGIN_IP")
                self.stop()
            response.raise_for_status()
            self.session = response.json()
        self.client.put("/me/privacy", json=EVERYONE, headers=self.auth, name="/me/privacy")
        known.append(self.user_id)

    @property
    def user_id(self) -> str:
        return self.session["user"]["id"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session['access_token']}"}

    def refresh(self) -> None:
        """Access tokens last 15 minutes: rotate before reconnecting after that."""
        response = self.client.post(
            "/auth/refresh",
            json={"refresh_token": self.session["refresh_token"]},
            name="/auth/refresh",
        )
        response.raise_for_status()
        self.session = response.json()


class SocketUser(Account):
    weight = 3
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        self.sign_in()
        self.token_at = time.time()
        self.last_seq = 0
        self.status = "online"  # this connection's presence as the server has it
        self.following: set[str] = set()
        self.lock = threading.Lock()  # gevent-patched: orders handlers that touch last_seq
        self.sio: socketio.Client | None = None
        self.group_hug: tuple[str, float] | None = None  # (id, ends_at epoch) while active
        self.connect()

    def on_stop(self) -> None:
        self.disconnect()

    # --- stats ---------------------------------------------------------------------------

    def record(
        self,
        name: str,
        started: float,
        exc: Exception | None = None,
        length: int = 0,
        elapsed_ms: float | None = None,
    ) -> None:
        self.environment.events.request.fire(
            request_type="socketio",
            name=name,
            response_time=elapsed_ms if elapsed_ms is not None else (time.time() - started) * 1000,
            response_length=length,
            exception=exc,
            context={},
        )

    def call(self, event: str, payload: dict[str, Any]) -> Any:
        """`emitWithAck` with its latency in the stats; the answer, or None on error."""
        assert self.sio is not None
        started = time.time()
        try:
            answer = self.sio.call(event, payload, timeout=CALL_TIMEOUT)
        except socketio.exceptions.SocketIOError as exc:  # timeout, disconnected
            self.record(event, started, SocketIOError(f"{type(exc).__name__}: {exc}"))
            return None
        self.record(event, started, _answer_error(answer))
        return answer if isinstance(answer, dict) and answer.get("ok") else None

    # --- connection ------------------------------------------------------------------------

    def connect(self) -> None:
        if time.time() - self.token_at > 600:
            self.refresh()
            self.token_at = time.time()
        sio = socketio.Client(reconnection=False)
        sio.on("*", self.on_event)
        started = time.time()
        try:
            sio.connect(
                self.host,
                auth={"token": self.session["access_token"]},
                transports=["websocket"],
                wait_timeout=CALL_TIMEOUT,
            )
        except socketio.exceptions.ConnectionError as exc:
            self.record("connect", started, exc)
            return
        self.record("connect", started)
        self.sio = sio
        self.status = "online"
        online.append(self.user_id)
        self.resync()
        self.follow_some()

    def disconnect(self) -> None:
        presence_sent.pop(self.user_id, None)
        if self.user_id in online:
            online.remove(self.user_id)
        if self.sio is not None:
            self.sio.disconnect()
            self.sio = None

    def ensure_socket(self) -> bool:
        """Whether the socket is up; when it is not, connecting again is this turn's work."""
        if self.sio is None:
            self.connect()
            return False
        return True

    def follow_some(self) -> None:
        """Follow other socket users of this process up to `FOLLOWS`, the audience of their
        presence and moods; called on every connect, so users who came later are followed too."""
        candidates = [u for u in online if u != self.user_id and u not in self.following]
        wanted = max(0, min(FOLLOWS - len(self.following), len(candidates)))
        for target in random.sample(candidates, wanted):
            response = self.client.post(
                f"/users/{target}/follow", headers=self.auth, name="/users/{id}/follow"
            )
            if response.ok:
                self.following.add(target)

    def resync(self) -> None:
        """`sync {since: last_seq}` until `has_more` is false, then ack what was applied."""
        with self.lock:
            while True:
                answer = self.call("sync", {"since": self.last_seq})
                if answer is None:
                    return
                if not answer["recovered"]:  # retention removed some: restart from head
                    self.last_seq = answer["head"]
                    break
                for event in answer["events"]:
                    self.last_seq = event["seq"]
                if not answer["has_more"]:
                    break
        self.ack()

    def ack(self) -> None:
        if self.sio is None or self.last_seq == 0:
            return
        started = time.time()

        def done(answer: Any = None) -> None:
            self.record("ack", started, _answer_error(answer))

        self.sio.emit("ack", {"seq": self.last_seq}, callback=done)

    # --- server events (python-socketio runs each handler in its own greenlet) ----------------

    def on_event(self, event: str, payload: Any = None) -> None:
        if not isinstance(payload, dict):
            return
        data = payload.get("data")
        if isinstance(data, dict):
            if event == "hug.received":
                self.record_received(event, data.get("message"))
            elif event == "mood.updated" and data.get("user_id") != self.user_id:
                self.record_received(event, data.get("note"))
            elif event == "presence.changed":
                self.record_presence(data)
            elif event.startswith("group_hug."):
                self.on_group_hug(event, data)
        seq = payload.get("seq")
        if seq is None:  # ephemeral event: hello, user.updated, ...
            return
        with self.lock:
            if seq <= self.last_seq:
                return  # a duplicate of something applied
            gap = seq > self.last_seq + 1
            if not gap:
                self.last_seq = seq
        if gap:
            self.resync()
        elif event == "hug.received":
            self.ack()

    def on_group_hug(self, event: str, data: dict[str, Any]) -> None:
        if event == "group_hug.invited":
            self.call("group_hug:join", {"group_hug_id": data["id"]})
        elif event == "group_hug.started":
            ends_at = _epoch(data["ends_at"])
            self.group_hug = (data["id"], ends_at)
        elif event == "group_hug.pulse":
            slot_end = _epoch(data["at"])
            self.record("group_hug.pulse (after its slot)", slot_end, length=data["count"])
        elif event in ("group_hug.completed", "group_hug.canceled", "group_hug.expired"):
            if self.group_hug and self.group_hug[0] == data["id"]:
                self.group_hug = None

    def record_received(self, event: str, text: str | None) -> None:
        """Time an event from another user whose text carries its send time (`t=<epoch>`)."""
        if text and text.startswith("t="):
            self.record(f"{event} (end-to-end)", float(text[2:]), length=len(text))

    def record_presence(self, data: dict[str, Any]) -> None:
        sent = presence_sent.get(data.get("user", ""))
        if sent is not None and sent[0] == data.get("status"):
            self.record("presence.changed (end-to-end)", sent[1])
        else:
            self.record("presence.changed (count only)", time.time(), elapsed_ms=0)

    # --- tasks -----------------------------------------------------------------------------

    @task(10)
    def send_hug(self) -> None:
        if not self.ensure_socket():
            return
        targets = [u for u in random.sample(online, min(5, len(online))) if u != self.user_id]
        if not targets:
            return
        self.call(
            "hug:send",
            {
                "to": targets[0],
                "type": random.choice(HUG_TYPES),
                "client_id": uuid.uuid4().hex,
                "message": f"t={time.time():.6f}",
            },
        )

    @task(3)
    def set_presence(self) -> None:
        if not self.ensure_socket():
            return
        status = random.choice(STATUSES)
        if status != self.status:  # only a change is announced to followers
            presence_sent[self.user_id] = (status, time.time())
            self.status = status
        self.call("presence:set", {"status": status})

    @task(3)
    def update_mood(self) -> None:
        if not self.ensure_socket():
            return
        self.call(
            "mood:update",
            {
                "mood": random.choice(MOODS),
                "intensity": round(random.random(), 3),
                "valence": round(random.random(), 3),
                "arousal": round(random.random(), 3),
                "note": f"t={time.time():.6f}",
                "tags": random.sample(TAGS, random.randint(0, 3)),
                "visibility": random.choices(VISIBILITIES, VISIBILITY_WEIGHTS)[0],
            },
        )

    @task(1)
    def create_group_hug(self) -> None:
        if not self.ensure_socket() or self.group_hug is not None:
            return
        invitees = [u for u in random.sample(online, min(6, len(online))) if u != self.user_id]
        if invitees:
            payload = {"name": "load hug", "invitees": invitees[:5], "duration_s": 20}
            self.call("group_hug:create", payload)

    @task(10)
    def squeeze(self) -> None:
        if not self.ensure_socket() or self.group_hug is None:
            return
        group_id, ends_at = self.group_hug
        if time.time() >= ends_at:
            self.group_hug = None
            return
        payload = {"group_hug_id": group_id, "intensity": round(random.random(), 3)}
        self.call("group_hug:squeeze", payload)

    @task(1)
    def sync_clock(self) -> None:
        """What a phone does before a group hug starts: sample the server clock, estimate."""
        if not self.ensure_socket():
            return
        samples = []
        for _ in range(8):
            t0 = time.time() * 1000
            answer = self.call("time:sync", {"t0": t0})
            if answer is None:
                return
            t3 = time.time() * 1000
            samples.append(Sample(t0, answer["time"]["t1"], answer["time"]["t2"], t3))
        self.record("time:sync offset", 0, elapsed_ms=abs(estimate(samples)))

    @task(1)
    def refresh_token(self) -> None:
        """What a client does before its access token expires: rotate over REST, then hand the
        new token to the open connection (`auth:refresh`) so it outlives the old one."""
        if not self.ensure_socket():
            return
        self.refresh()
        self.token_at = time.time()
        self.call("auth:refresh", {"token": self.session["access_token"]})

    @task(1)
    def reconnect(self) -> None:
        """A phone losing its connection: drop it, connect again, resume with sync."""
        self.disconnect()
        self.connect()


SEARCHES = ["vanilla", "vanila", "sandlewood", "woody calm evening", "fresh citrus", "rose", "cozy"]
CATALOG_FILTERS = [
    {"family": "woody", "sort": "price"},
    {"mood": "calm", "in_stock": "true"},
    {"note": "vanilla", "season": "winter"},
    {"valence_min": "0.6", "arousal_max": "0.4", "sort": "popularity"},
    {"family": "citrus,fresh", "price_max": "3000"},
]


class CatalogUser(Account):
    """Browses and searches the fragrance catalog over REST, following what it was shown."""

    weight = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.sign_in()
        self.cursor: dict[str, Any] | None = None  # the last list's query and next cursor
        self.seen: list[str] = []  # slugs of fragrances it was shown

    def browse(self, params: dict[str, Any], name: str) -> None:
        response = self.client.get(
            "/catalog/fragrances", params=params, headers=self.auth, name=name
        )
        if response.ok:
            body = response.json()
            self.seen = [item["slug"] for item in body["items"]] or self.seen
            self.cursor = params | {"cursor": body["next_cursor"]} if body["next_cursor"] else None

    @task(5)
    def search(self) -> None:
        self.browse({"q": random.choice(SEARCHES)}, "/catalog/fragrances?q")

    @task(3)
    def filtered(self) -> None:
        self.browse(dict(random.choice(CATALOG_FILTERS)), "/catalog/fragrances?filters")

    @task(2)
    def next_page(self) -> None:
        if self.cursor:
            self.browse(self.cursor, "/catalog/fragrances?cursor")

    @task(2)
    def detail(self) -> None:
        if self.seen:
            slug = random.choice(self.seen)
            self.client.get(
                f"/catalog/fragrances/{slug}", headers=self.auth, name="/catalog/fragrances/{ref}"
            )

    @task(1)
    def designs(self) -> None:
        self.client.get("/catalog/designs", headers=self.auth, name="/catalog/designs")


class RestUser(Account):
    weight = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.sign_in()
        self.push_token = uuid.uuid4().hex * 2  # this install's (APNs-shaped) push token

    @task(3)
    def me(self) -> None:
        self.client.get("/me", headers=self.auth, name="/me")

    @task(3)
    def inbox(self) -> None:
        self.client.get(
            "/hugs", params={"box": "inbox", "limit": 20}, headers=self.auth, name="/hugs?box=inbox"
        )

    @task(1)
    def send_hug(self) -> None:
        targets = [u for u in random.sample(known, min(5, len(known))) if u != self.user_id]
        if targets:
            self.client.post(
                "/hugs",
                headers=self.auth,
                name="/hugs",
                json={
                    "to": targets[0],
                    "type": random.choice(HUG_TYPES),
                    "client_id": uuid.uuid4().hex,
                    "message": f"t={time.time():.6f}",
                },
            )

    @task(1)
    def register_device(self) -> None:
        """An app start: (re-)register this install's push token, as the app does every time."""
        self.client.post(
            "/devices",
            headers=self.auth,
            name="/devices",
            json={
                "platform": "ios",
                "token": self.push_token,
                "app_version": "load",
                "locale": "en",
            },
        )
