"""The teacher's code: where it comes from, and unlocking with it, with a pause after wrong tries.

The code is `$CIFAR_TF_TEACHER_CODE`, or else one made up the first time class mode needs it and
kept in `.class/teacher_code` (readable by the server's user only), so that it survives a restart.
A seat that typed it holds the code's fingerprint, not the code: change the code and every
teacher seat loses its rights. Wrong codes count for the seat and for the whole class, with
pauses after a few (`guesses`): a new name for every few guesses gains nothing.
"""
import hashlib
import hmac
import secrets
import sys
import time

from .. import settings
from ..runs.files import atomic_write_bytes, read_private
from .guesses import ATTEMPTS_FILE, FIRST_PAUSE_S, FREE_TRIES, LONGEST_PAUSE_S, Guesses, pause_after  # noqa: F401

CODE_FILE = "teacher_code"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a projector or a terminal
CODE_LENGTH = 8
CODE_FILE_MAX_BYTES = 1024


def teacher_code(folder):
    """`(code, source)`: the class's teacher code and where it is kept, in words."""
    code = settings.teacher_code()
    if code:
        return code, "the CIFAR_TF_TEACHER_CODE variable"
    path = folder.path / CODE_FILE
    with folder.locked():
        try:
            code = read_private(path, CODE_FILE_MAX_BYTES).decode("utf-8").strip()
        except FileNotFoundError:
            code = ""
        except (OSError, ValueError) as error:
            # Made beforehand by someone else (readable by others, a link to a file they know):
            # its code is known, so it is replaced, and the server's log says why.
            print(f"warning: {path} was not used ({error}); a new teacher code was made", file=sys.stderr,
                  flush=True)
            code = ""
        if not code:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            atomic_write_bytes(path, (code + "\n").encode())   # a new file, mode 0600: a link is replaced
    return code, str(path)


def where_the_code_is(folder):
    """One line for the teacher: the code itself when it was made up, else where it is set."""
    code, where = teacher_code(folder)
    if settings.teacher_code():
        return "The teacher code is the one set in CIFAR_TF_TEACHER_CODE."
    return f"The teacher code is {code} (kept in {where})."


def fingerprint(code):
    return hashlib.sha256(f"cifar_tf teacher code:{code}".encode()).hexdigest()[:32]


class Unlocks:
    """Unlocking teacher rights: wrong tries count per seat and for the whole class (`guesses`)."""

    def __init__(self, folder, clock=time.time):
        self.folder = folder
        self.guesses = Guesses(folder, clock)

    @property
    def clock(self):
        return self.guesses.clock

    @clock.setter
    def clock(self, clock):
        self.guesses.clock = clock

    def try_code(self, key, typed):
        """The code's fingerprint if `typed` is the teacher code; NotAllowed otherwise, saying how
        long to wait when wrong tries piled up (this seat's or the class's)."""
        code, _ = teacher_code(self.folder)
        typed = str(typed or "").strip().encode()
        self.guesses.attempt(key, lambda: hmac.compare_digest(typed, code.encode()), what="code",
                             resets_class=True)
        return fingerprint(code)

    def is_current(self, seat_fingerprint, current=None):
        """Whether a seat's fingerprint is that of today's teacher code (`current`: its
        fingerprint, when the caller has it already)."""
        current = current or fingerprint(teacher_code(self.folder)[0])
        return bool(seat_fingerprint) and hmac.compare_digest(seat_fingerprint, current)
