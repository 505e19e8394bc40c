"""Seats: who is who in a class, one seat per browser.

A browser holds a random token (the app keeps it in a cookie); the server stores only the token's
SHA-256, mapped to the name the student typed. The token is the secret and never leaves the
browser that got it: a run, the leaderboard and the teacher's page know a seat by its `key` (the
hash of the token it was first given). A token the server never gave out finds no seat, and a new
seat always gets a fresh token, never one a browser proposes.

A seat also has a recovery code (`RECOVERY_LENGTH` letters and digits that read well off a
screen), stored as its hash like the token: typed on another device it gives the seat a new
token there (the old browser's no longer works) and a new recovery code. Wrong codes count
against the class's guess limit (`guesses`).

Names: no two seats have names that look alike (`lookalikes`: "Ada", "ADA", Cyrillic "Аdа" and
fullwidth "Ａｄａ" are one name). A class holds at most `settings.class_seats()` seats and takes
at most `settings.class_joins_per_minute()` new ones a minute.
"""
import hashlib
import hmac
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass

from .. import settings
from ..runs.files import now
from ..runs.store import check_run_name
from .folder import NotAllowed
from .lookalikes import look

SEATS_FILE = "seats.json"
MAX_NAME_LENGTH = 40
RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no 0/O, 1/I: read off a phone or a projector
RECOVERY_LENGTH = 8
JOIN_WINDOW_S = 60
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


def new_recovery_code():
    """A recovery code as shown to its student: `ABCD-EFGH`."""
    code = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return f"{code[:4]}-{code[4:]}"


def recovery_hash(typed):
    """What the server keeps of a recovery code: the hash of its letters, whatever the case,
    spaces or dashes it was typed with."""
    letters = "".join(ch for ch in unicodedata.normalize("NFKC", str(typed or "")).upper() if ch.isalnum())
    return hashlib.sha256(f"cifar_tf recovery code:{letters}".encode()).hexdigest()


@dataclass(frozen=True)
class Seat:
    key: str
    name: str
    teacher: str = None     # the fingerprint of the teacher code this seat unlocked with, if any
    created_at: str = None


class Seats:
    def __init__(self, folder, clock=time.time):
        self.folder = folder
        self.clock = clock

    def _records(self):
        return _valid(self.folder.read(SEATS_FILE, {}))

    def find(self, token):
        """The seat of `token`, or None (no token, a malformed one, one never given out, or one a
        recovery code replaced)."""
        if not is_token(token):
            return None
        key = seat_key(token)
        for stored, record in self._records().items():
            if hmac.compare_digest(_token_hash(stored, record), key):
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
        """A new seat for `name`: `(token, seat, recovery code)`. The token and the code go to
        this browser only. NotAllowed for a bad name, one that looks like a taken one, a full
        class, or too many newcomers this minute."""
        token, code = new_token(), new_recovery_code()
        key = seat_key(token)
        with self.folder.locked():
            records = _valid(self.folder.read(SEATS_FILE, {}))
            name = _free_name(records, name, None)
            cap = settings.class_seats()
            if len(records) >= cap:
                raise NotAllowed(f"The class is full: it has {cap} names, the most it holds. Ask the teacher to "
                                 "free a name that is no longer used (Teacher page).")
            clock = self.clock()
            recent = [record["joined"] for record in records.values()
                      if isinstance(record.get("joined"), (int, float)) and 0 <= clock - record["joined"] < JOIN_WINDOW_S]
            rate = settings.class_joins_per_minute()
            if len(recent) >= rate:
                wait = JOIN_WINDOW_S - (clock - min(recent))
                raise NotAllowed(f"Too many newcomers at once ({len(recent)} in the last minute): try again in "
                                 f"{max(1, round(wait))} s.")
            # One read and one write of the seats file: a join costs what the class's size does,
            # and the cap bounds that.
            records[key] = {"name": name, "created_at": now(), "joined": clock, "recovery": recovery_hash(code)}
            self.folder.write(SEATS_FILE, records)
        return token, _seat(key, records[key]), code

    def rename(self, key, name):
        with self.folder.editing(SEATS_FILE) as records:
            if key not in _valid(records):
                raise NotAllowed("This seat is no longer known: type your name again.")
            records[key]["name"] = _free_name(_valid(records), name, key)
        return self.by_key(key)

    def set_teacher(self, key, fingerprint):
        """Give (a fingerprint) or take back (None) teacher rights of a seat."""
        with self.folder.editing(SEATS_FILE) as records:
            if key in _valid(records):
                if fingerprint:
                    records[key]["teacher"] = fingerprint
                else:
                    records[key].pop("teacher", None)
        return self.by_key(key)

    def new_recovery(self, key):
        """A new recovery code for the seat `key` (the one before no longer works)."""
        code = new_recovery_code()
        with self.folder.editing(SEATS_FILE) as records:
            if key not in _valid(records):
                raise NotAllowed("This seat is no longer known: type your name again.")
            records[key]["recovery"] = recovery_hash(code)
        return code

    def reclaim_locked(self, typed):
        """`(token, seat, new recovery code)` for the seat whose recovery code is `typed`, or None.
        The seat's old token and code stop working. Call with the class's lock held (the guess
        limit holds it: `Guesses.attempt`)."""
        wanted = recovery_hash(typed)
        records = _valid(self.folder.read(SEATS_FILE, {}))
        found = None
        for key, record in records.items():
            stored = record.get("recovery")
            if isinstance(stored, str) and hmac.compare_digest(stored, wanted):
                found = key
        if found is None:
            return None
        token, code = new_token(), new_recovery_code()
        records[found].update(token=seat_key(token), recovery=recovery_hash(code))
        self.folder.write(SEATS_FILE, records)
        return token, _seat(found, records[found]), code

    def free(self, key):
        """Take the seat `key` away (its name is free again; its browser is a newcomer): the seat
        it was, or None."""
        with self.folder.editing(SEATS_FILE) as records:
            record = _valid(records).get(key)
            if record is None:
                return None
            del records[key]
        return _seat(key, record)


def _valid(records):
    """The seat records of a seats file's object: {key: record with a name}."""
    return {key: value for key, value in records.items()
            if isinstance(value, dict) and isinstance(value.get("name"), str)}


def _token_hash(key, record):
    """The hash of the token that opens this seat now: the key's own until a recovery code gave
    the seat a new token."""
    token = record.get("token")
    return token if isinstance(token, str) else key


def _free_name(records, name, own_key):
    """`name` checked and cleaned, if no other seat's name looks like it; NotAllowed saying which
    name it looks like otherwise. One pass over the seats, each name's look cached."""
    name, problem = check_name(name)
    if problem:
        raise NotAllowed(problem)
    wanted, plain = look(name), unicodedata.normalize("NFKC", name).casefold()
    for key, record in records.items():
        if key != own_key and look(record["name"]) == wanted:
            taken = record["name"]
            if unicodedata.normalize("NFKC", taken).casefold() == plain:
                raise NotAllowed(f"Someone in this class is already called “{taken}”: add an initial or a number.")
            raise NotAllowed(f"“{name}” looks like “{taken}”, the name of someone in this class: add an initial "
                             "or a number.")
    return name


def _seat(key, record):
    teacher = record.get("teacher")
    return Seat(key=key, name=record["name"], teacher=teacher if isinstance(teacher, str) else None,
                created_at=record.get("created_at"))
