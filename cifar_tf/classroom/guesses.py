"""Guessing a class's secrets (the teacher code, the students' recovery codes): how many wrong
tries, and the pauses after them.

Two counts, kept in `.class/unlock_attempts.json` and changed under the class's lock:
- each seat's: after `FREE_TRIES` wrong tries the seat waits `FIRST_PAUSE_S`, twice as long after
  each further one (at most `LONGEST_PAUSE_S`); its right code resets it;
- the class's, of every wrong try from every seat and every browser without one: after
  `CLASS_FREE_TRIES` the whole class waits, the same way. A new name for every few guesses (or
  a browser with no seat at all, guessing recovery codes) therefore gains nothing. Only the right
  teacher code resets it (a recovery code is a student's own and proves nothing about the rest),
  and it is forgotten after `FORGET_AFTER_S` without a wrong try.

While the seat or the class waits, a try is refused unchecked: even the right code waits, so a
pause is no oracle.
"""
import time

from .folder import NotAllowed

ATTEMPTS_FILE = "unlock_attempts.json"
CLASS_KEY = "*class*"      # seat keys are hex digests: this one can't be a seat's
FREE_TRIES = 3
CLASS_FREE_TRIES = 10     # a class's typos at the start of a lesson fit; a guesser's thirty do not
FIRST_PAUSE_S = 10
LONGEST_PAUSE_S = 300
FORGET_AFTER_S = 3600


def pause_after(failures, free=FREE_TRIES):
    """Seconds to wait after `failures` wrong tries in a row, the first `free` of them free."""
    if failures < free:
        return 0
    return min(LONGEST_PAUSE_S, FIRST_PAUSE_S * 2 ** min(failures - free, 16))


class Guesses:
    def __init__(self, folder, clock=time.time):
        self.folder = folder
        self.clock = clock

    def attempt(self, key, check, *, what="code", resets_class=False):
        """`check()`'s answer when it is right (truthy); NotAllowed when it is wrong, or when
        `key` (a seat; None for a browser without one) or the class must wait first.

        `check` runs under the class's lock, so it may read and write other class files (but not
        take the lock). A wrong answer counts for the seat and for the class."""
        with self.folder.locked():
            attempts = self.folder.read(ATTEMPTS_FILE, {})
            now = self.clock()
            seat, whole = self._entry(attempts, key), self._class_entry(attempts)
            if whole and now - _number(whole.get("last")) > FORGET_AFTER_S:
                whole = {}
            for entry, whose in ((whole, " in this class"), (seat, "")):
                wait = _number(entry.get("until")) - now
                if wait > 0:
                    raise NotAllowed(f"Too many wrong codes{whose}: try again in {wait:.0f} s.")
            answer = check()
            if answer:
                if key is not None:
                    attempts.pop(key, None)
                if resets_class:
                    attempts.pop(CLASS_KEY, None)
                self.folder.write(ATTEMPTS_FILE, attempts)
                return answer
            seat_failures = int(_number(seat.get("failures"))) + 1
            class_failures = int(_number(whole.get("failures"))) + 1
            seat_pause = pause_after(seat_failures) if key is not None else 0
            class_pause = pause_after(class_failures, CLASS_FREE_TRIES)
            if key is not None:
                attempts[key] = {"failures": seat_failures, "until": now + seat_pause}
            attempts[CLASS_KEY] = {"failures": class_failures, "until": now + class_pause, "last": now}
            self.folder.write(ATTEMPTS_FILE, attempts)
        if class_pause >= seat_pause and class_pause:
            raise NotAllowed(f"Wrong {what}. Too many wrong tries in this class: everyone waits {class_pause} s "
                             "before the next one.")
        if seat_pause:
            raise NotAllowed(f"Wrong {what}. Too many wrong tries: wait {seat_pause} s before the next one.")
        left = CLASS_FREE_TRIES - class_failures
        if key is not None:
            left = min(left, FREE_TRIES - seat_failures)
        raise NotAllowed(f"Wrong {what}. {left} more {'try' if left == 1 else 'tries'} before a pause.")

    @staticmethod
    def _entry(attempts, key):
        entry = attempts.get(key) if key is not None else None
        return entry if isinstance(entry, dict) else {}

    @staticmethod
    def _class_entry(attempts):
        entry = attempts.get(CLASS_KEY)
        return entry if isinstance(entry, dict) else {}


def _number(value):
    """A count or a time from the file; 0 for anything else (the file is the server's, but a
    damaged one must not break every unlock)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0.0
    return float(min(max(value, -1e12), 1e12))
