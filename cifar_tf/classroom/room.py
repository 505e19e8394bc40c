"""One class, as the pages use it: who a browser is, what they may do, and the teacher's controls.

`Classroom(runs_dir)` is cheap to make and holds nothing in memory: every answer is read from
`.class/`, so all sessions of a server (and several servers over one folder) agree.
"""
import time

from .. import settings
from . import challenge as rules
from . import lessons
from .folder import ClassFolder, NotAllowed
from .roles import (Viewer, check_can_manage, check_may_manage_seats, former_owners, give_runs, owner_tags,
                    stop_run)
from .seats import Seats
from .teacher import Unlocks, fingerprint, teacher_code, where_the_code_is


class Classroom:
    def __init__(self, runs_dir=None, *, clock=time.time):
        self.folder = ClassFolder(runs_dir)
        self.seats = Seats(self.folder, clock)
        self.unlocks = Unlocks(self.folder, clock)

    @property
    def on(self):
        return settings.class_mode()

    def code(self):
        """`(teacher code, where it is kept)`; made up and kept the first time, without the variable."""
        return teacher_code(self.folder)

    def code_line(self):
        """The teacher code in one line for the server's terminal (the code itself only when the
        lab made it up: a code from the environment is the teacher's to know)."""
        return where_the_code_is(self.folder)

    # --- who is who -------------------------------------------------------------------------------

    def viewer(self, token):
        """Who holds `token` (a browser's seat token, or None)."""
        if not self.on:
            return Viewer()
        seat = self.seats.find(token)
        if seat is None:
            return Viewer(class_mode=True)
        return Viewer(class_mode=True, seat=seat.key, name=seat.name, teacher=self.unlocks.is_current(seat.teacher))

    def join(self, name):
        """A seat for a newcomer: the token for their browser (NotAllowed for a bad or taken name,
        a full class, too many newcomers at once)."""
        return self.join_with_code(name)[0]

    def join_with_code(self, name):
        """As `join`: `(token, recovery code)`, the code to show the newcomer once."""
        token, _, code = self.seats.join(name)
        return token, code

    def recover(self, typed):
        """`(token, new recovery code)` of the seat whose recovery code was typed, for this
        browser: the seat's other browser loses it. Wrong codes count against the class's guess
        limit, with the teacher code's (NotAllowed, saying how long to wait)."""
        token, _, code = self.unlocks.guesses.attempt(None, lambda: self.seats.reclaim_locked(typed),
                                                      what="recovery code")
        return token, code

    def new_recovery_code(self, viewer):
        """A new recovery code for `viewer`'s seat, to show them once (the one before stops working)."""
        self._seated(viewer)
        return self.seats.new_recovery(viewer.seat)

    def rename(self, viewer, name):
        self._seated(viewer)
        self.seats.rename(viewer.seat, name)

    def unlock(self, viewer, code):
        """Teacher rights for `viewer`'s seat if `code` is right (NotAllowed otherwise)."""
        self._seated(viewer)
        self.seats.set_teacher(viewer.seat, self.unlocks.try_code(viewer.seat, code))

    def lock(self, viewer):
        self._seated(viewer)
        self.seats.set_teacher(viewer.seat, None)

    def names(self):
        return self.seats.names()

    def teacher_seats(self):
        current = fingerprint(self.code()[0])
        return {seat.key for seat in self.seats.all() if self.unlocks.is_current(seat.teacher, current)}

    # --- seats: the teacher's --------------------------------------------------------------------

    def owners(self, runs):
        """`[(seat key, name)]` whose runs the teacher may give away: every seat, by name, then the
        owners of `runs` whose names were freed ("(name freed)")."""
        names = self.names()
        seats = sorted(names.items(), key=lambda item: item[1].casefold())
        gone = sorted(former_owners(runs, names).items(), key=lambda item: item[1].casefold())
        return seats + [(key, f"{name} (name freed)") for key, name in gone]

    def free_seat(self, viewer, key, give_to=None):
        """Free the seat `key`'s name (its browser becomes a newcomer): its runs go to the seat
        `give_to`, or stay the teacher's (nobody's, remembering whose they were). `(the seat
        freed, how many runs changed hands)`; only the teacher may."""
        check_may_manage_seats(viewer, "free a name")
        if key == viewer.seat:
            raise NotAllowed("This is your own seat: leave teacher mode or use another browser to free it.")
        seat = self.seats.by_key(key)
        if seat is None:
            raise NotAllowed("That name is no longer in the class.")
        to = self._receiver(give_to, key) if give_to else None
        moved = give_runs(viewer, key, to, self.folder.runs_dir)
        self.seats.free(key)
        return seat, moved

    def give_runs(self, viewer, key, give_to):
        """Give every run of the seat `key` (or of an owner whose name was freed) to the seat
        `give_to`: how many; only the teacher may."""
        check_may_manage_seats(viewer, "give a student's runs to someone else")
        return give_runs(viewer, key, self._receiver(give_to, key), self.folder.runs_dir)

    def _receiver(self, key, giver):
        seat = self.seats.by_key(key)
        if seat is None:
            raise NotAllowed("The runs can only go to someone who has a name in the class now.")
        if key == giver:
            raise NotAllowed("Those runs are theirs already: pick someone else.")
        return {"name": seat.name, "seat": seat.key}

    # --- the teacher's controls ------------------------------------------------------------------

    def challenge(self):
        return rules.current(self.folder) if self.on else None

    def set_challenge(self, viewer, challenge):
        self._teacher(viewer, "set a challenge")
        return rules.set_challenge(self.folder, challenge)

    def end_challenge(self, viewer):
        self._teacher(viewer, "end the challenge")
        rules.end_challenge(self.folder)

    def archive(self, viewer):
        self._teacher(viewer, "archive the class's runs")
        current = self.challenge()
        return lessons.archive_runs(self.folder, title=current.title if current else None)

    def lessons(self):
        return lessons.lessons(self.folder)

    def restore(self, viewer, lesson):
        self._teacher(viewer, "bring back a lesson")
        return lessons.restore(self.folder, lesson)

    # --- submissions --------------------------------------------------------------------------------

    def admit(self, viewer, config):
        """The tags a run `viewer` submits gets (owner, challenge); NotAllowed when refused."""
        if not self.on:
            return {}
        owner = self._owner(viewer, "run")
        return {**owner_tags(owner), **rules.admit(self.challenge(), config, teacher=owner.teacher)}

    def admit_search(self, viewer):
        """The tags a search `viewer` starts gets (its owner); NotAllowed when refused. Under a
        challenge searches are the teacher's: their trials are not held to its rules."""
        if not self.on:
            return {}
        owner = self._owner(viewer, "search")
        if self.challenge() is not None and not owner.teacher:
            raise NotAllowed("While a challenge is on, searches are the teacher's: a search's trials are not "
                             "held to the challenge's rules.")
        return owner_tags(owner)

    def _owner(self, viewer, what):
        """`viewer` as the owner of what they submit, teacher rights checked now; NotAllowed without a seat."""
        seat = self.seats.by_key(viewer.seat) if viewer.seated else None
        if seat is None:
            raise NotAllowed(f"Type your name in the sidebar first: in class mode every {what} has an owner.")
        return Viewer(class_mode=True, seat=seat.key, name=seat.name, teacher=self.unlocks.is_current(seat.teacher))

    def manager_for(self, manager, viewer):
        return SeatedManager(manager, self, viewer)

    def _seated(self, viewer):
        if not viewer.seated:
            raise NotAllowed("Type your name in the sidebar first.")

    def _teacher(self, viewer, action):
        if not (viewer.teacher and self.on):
            raise NotAllowed(f"Only the teacher can {action}.")


class SeatedManager:
    """The server's one run manager as one viewer uses it: what they submit (runs, searches) is
    theirs and is checked against the challenge, and they may stop only what is theirs (the
    teacher, anything).
    Everything else (the queue, positions) is the manager's own."""

    def __init__(self, manager, classroom, viewer):
        self.manager, self.classroom, self.viewer = manager, classroom, viewer

    def submit(self, config, *, name=None, tags=None, data_dir=None, **more):
        tags = {**(tags or {}), **self.classroom.admit(self.viewer, config)}
        return self.manager.submit(config, name=name, tags=tags, data_dir=data_dir, **more)

    def stop(self, run_id):
        return stop_run(self.manager, self.viewer, run_id)

    def submit_search(self, create, *, tags=None):
        tags = {**(tags or {}), **self.classroom.admit_search(self.viewer)}
        return self.manager.submit_search(create, tags=tags)

    def stop_search(self, search_id):
        check_can_manage(self.viewer, self.manager.search(search_id))
        return self.manager.stop_search(search_id)

    def resume_search(self, search_id):
        check_can_manage(self.viewer, self.manager.search(search_id))
        return self.manager.resume_search(search_id)

    def __getattr__(self, name):
        return getattr(self.manager, name)
