"""The teacher's code: where it comes from, and unlocking with it, with a pause after wrong tries.

The code is `$CIFAR_TF_TEACHER_CODE`, or else one made up the first time class mode needs it and
kept in `.class/teacher_code` (readable by the server's user only), so that it survives a restart.
A seat that typed it holds the code's fingerprint, not the code: change the code and every
teacher seat loses its rights. After `FREE_TRIES` wrong codes a seat must wait before the next try,
twice as long after each further one; a right code resets the count.
"""
import hashlib
import hmac
import os
import secrets
import time

from .. import settings
from .folder import NotAllowed

CODE_FILE = "teacher_code"
ATTEMPTS_FILE = "unlock_attempts.json"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a projector or a terminal
CODE_LENGTH = 8
FREE_TRIES = 3
FIRST_PAUSE_S = 10
LONGEST_PAUSE_S = 300


def teacher_code(folder):
    """`(code, source)`: the class's teacher code and where it is kept, in words."""
    code = settings.teacher_code()
    if code:
        return code, "the CIFAR_TF_TEACHER_CODE variable"
    path = folder.path / CODE_FILE
    with folder.locked():
        try:
            code = path.read_text(encoding="utf-8").strip()
        except OSError:
            code = ""
        if not code:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(code + "\n")
    return code, str(path)


def where_the_code_is(folder):
    """One line for the teacher: the code itself when it was made up, else where it is set."""
    code, where = teacher_code(folder)
    if settings.teacher_code():
        return "The teacher code is the one set in CIFAR_TF_TEACHER_CODE."
    return f"The teacher code is {code} (kept in {where})."


def fingerprint(code):
    return hashlib.sha256(f"cifar_tf teacher code:{code}".encode()).hexdigest()[:32]


def pause_after(failures):
    """Seconds to wait after `failures` wrong codes in a row."""
    if failures < FREE_TRIES:
        return 0
    return min(LONGEST_PAUSE_S, FIRST_PAUSE_S * 2 ** (failures - FREE_TRIES))


class Unlocks:
    """Unlocking teacher rights, one count of wrong tries per seat."""

    def __init__(self, folder, clock=time.time):
        self.folder = folder
        self.clock = clock

    def wait_left(self, key):
        """Seconds before `key` may try again (0: now)."""
        entry = self.folder.read(ATTEMPTS_FILE, {}).get(key) or {}
        return max(0.0, float(entry.get("until") or 0) - self.clock())

    def try_code(self, key, typed):
        """The code's fingerprint if `typed` is the teacher code; NotAllowed otherwise, saying how
        long to wait when wrong tries piled up."""
        code, _ = teacher_code(self.folder)
        with self.folder.editing(ATTEMPTS_FILE) as attempts:
            entry = attempts.get(key) if isinstance(attempts.get(key), dict) else {}
            wait = float(entry.get("until") or 0) - self.clock()
            if wait > 0:
                raise NotAllowed(f"Too many wrong codes: try again in {wait:.0f} s.")
            if hmac.compare_digest(str(typed or "").strip().encode(), code.encode()):
                attempts.pop(key, None)
                return fingerprint(code)
            failures = int(entry.get("failures") or 0) + 1
            pause = pause_after(failures)
            attempts[key] = {"failures": failures, "until": self.clock() + pause}
        left = FREE_TRIES - failures
        if pause:
            raise NotAllowed(f"Wrong code. Too many wrong tries: wait {pause} s before the next one.")
        raise NotAllowed(f"Wrong code. {left} more {'try' if left == 1 else 'tries'} before a pause.")

    def is_current(self, seat_fingerprint, current=None):
        """Whether a seat's fingerprint is that of today's teacher code (`current`: its
        fingerprint, when the caller has it already)."""
        current = current or fingerprint(teacher_code(self.folder)[0])
        return bool(seat_fingerprint) and hmac.compare_digest(seat_fingerprint, current)
