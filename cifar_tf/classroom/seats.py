"""Seats: who is who in a class, one seat per browser.

A browser holds a random token (the app keeps it in a cookie); the server stores only the token's
SHA-256, mapped to the name the student typed. The token is the secret and never leaves the
browser that got it: a run, the leaderboard and the teacher's page know a seat by its hash (its
`key`). A token the server never gave out finds no seat, and a new seat always gets a fresh
token, never one a browser proposes.
"""
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from ..runs.files import now
from ..runs.store import check_run_name
from .folder import NotAllowed

SEATS_FILE = "seats.json"
MAX_NAME_LENGTH = 40
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def new_token():
    return secrets.token_urlsafe(32)


def seat_key(token):
    """The token's SHA-256: what the server stores and runs record."""
    return hashlib.sha256(str(token).encode()).hexdigest()


def is_token(text):
    return isinstance(text, str) and bool(_TOKEN.match(text))


def check_name(text):
    """`(name, problem)`: the name as it would be stored (one line, printable, spaces collapsed),
    and why it cannot be (None if it can). Markdown or HTML in a name is kept as typed: pages show
    it as text."""
    return check_run_name(text, MAX_NAME_LENGTH)


@dataclass(frozen=True)
class Seat:
    key: str
    name: str
    teacher: str = None     # the fingerprint of the teacher code this seat unlocked with, if any
    created_at: str = None


class Seats:
    def __init__(self, folder):
        self.folder = folder

    def _records(self):
        return {key: value for key, value in self.folder.read(SEATS_FILE, {}).items()
                if isinstance(value, dict) and isinstance(value.get("name"), str)}

    def find(self, token):
        """The seat of `token`, or None (no token, a malformed one, or one never given out)."""
        if not is_token(token):
            return None
        key = seat_key(token)
        for stored, record in self._records().items():
            if hmac.compare_digest(stored, key):
                return _seat(stored, record)
        return None

    def by_key(self, key):
        record = self._records().get(key) if isinstance(key, str) else None
        return _seat(key, record) if record else None

    def all(self):
        return [_seat(key, record) for key, record in self._records().items()]

    def names(self):
        """{seat key: name} of every seat."""
        return {key: record["name"] for key, record in self._records().items()}

    def join(self, name):
        """A new seat for `name`: `(token, seat)`. The token goes to this browser only."""
        token = new_token()
        key = seat_key(token)
        with self.folder.editing(SEATS_FILE) as records:
            name = self._free_name(records, name, None)
            records[key] = {"name": name, "created_at": now()}
        return token, self.by_key(key)

    def rename(self, key, name):
        with self.folder.editing(SEATS_FILE) as records:
            if key not in records:
                raise NotAllowed("This seat is no longer known: type your name again.")
            records[key]["name"] = self._free_name(records, name, key)
        return self.by_key(key)

    def set_teacher(self, key, fingerprint):
        """Give (a fingerprint) or take back (None) teacher rights of a seat."""
        with self.folder.editing(SEATS_FILE) as records:
            if key in records:
                if fingerprint:
                    records[key]["teacher"] = fingerprint
                else:
                    records[key].pop("teacher", None)
        return self.by_key(key)

    @staticmethod
    def _free_name(records, name, own_key):
        name, problem = check_name(name)
        if problem:
            raise NotAllowed(problem)
        taken = {record.get("name", "").casefold() for key, record in records.items()
                 if key != own_key and isinstance(record, dict)}
        if name.casefold() in taken:
            raise NotAllowed(f"Someone in this class is already called “{name}”: add an initial or a number.")
        return name


def _seat(key, record):
    teacher = record.get("teacher")
    return Seat(key=key, name=record["name"], teacher=teacher if isinstance(teacher, str) else None,
                created_at=record.get("created_at"))
