"""Class mode's seats under attack and after a lost cookie: the guess limit of the whole class,
names that look alike, the seat cap and rate, recovery codes, and the teacher freeing names and
giving runs away. No browser: the pages only lay these out."""
import json

import pytest

from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.classroom.guesses import CLASS_FREE_TRIES, FORGET_AFTER_S, FREE_TRIES
from cifar_tf.classroom.lookalikes import look, parse_table
from cifar_tf.classroom.roles import Viewer, can_manage, give_runs, may_manage_seats, owner_of
from cifar_tf.classroom.room import Classroom
from cifar_tf.classroom.seats import RECOVERY_ALPHABET, new_recovery_code
from cifar_tf.runs import store
from cifar_tf.training.config import TrainConfig


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def room(runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR_TF_CLASS_MODE", "1")
    return Classroom(runs_dir, clock=Clock())


def seated(room, name):
    token = room.join(name)
    return token, room.viewer(token)


def teacher(room):
    token, me = seated(room, "Ms Teacher")
    room.unlock(me, room.code()[0])
    return token, room.viewer(token)


def owned_run(room, viewer, name="run"):
    tags = {"owner": {"name": viewer.name, "seat": viewer.seat}}
    return store.create_run(room.folder.runs_dir, arch="simple_cnn", config=TrainConfig(epochs=1).to_dict(),
                            name=name, status="queued", tags=tags)


def owner(room, run):
    return owner_of(store.load_run(run.id, room.folder.runs_dir))


# --- the guess limit is the class's ---------------------------------------------------------------

def test_many_seats_each_guessing_a_few_times_are_stopped_as_one(room):
    """The attack that worked: a new name for every few guesses. Each seat stays under its own
    limit, and still the class stops them all after CLASS_FREE_TRIES wrong codes."""
    code = room.code()[0]
    guessers = [seated(room, f"Guesser {n}")[1] for n in range(6)]
    guesses = 0
    for guesser in guessers[:5]:
        for attempt in range(FREE_TRIES - 1):
            with pytest.raises(NotAllowed, match="Wrong code"):
                room.unlock(guesser, f"guess-{guesses}")
            guesses += 1
    assert guesses == CLASS_FREE_TRIES
    # The last of those ten started the class's pause: a fresh seat (and even the right code) waits.
    with pytest.raises(NotAllowed, match="in this class: try again in 10 s"):
        room.unlock(guessers[5], "guess-fresh-seat")
    with pytest.raises(NotAllowed, match="in this class: try again in"):
        room.unlock(guessers[5], code)
    assert room.teacher_seats() == set()
    # Pauses grow with each further wrong code, whichever seat makes it.
    room.unlocks.clock.now += 11
    with pytest.raises(NotAllowed, match="everyone waits 20 s"):
        room.unlock(guessers[5], "guess-11")
    room.unlocks.clock.now += 21
    room.unlock(guessers[5], code)   # the right code after the pause
    assert room.teacher_seats() == {guessers[5].seat}


def test_the_wrong_tries_say_how_many_are_left_and_are_forgotten_after_a_quiet_hour(room):
    _, me = seated(room, "Ada")
    with pytest.raises(NotAllowed, match="2 more tries before a pause"):
        room.unlock(me, "nope")
    for n in range(2, CLASS_FREE_TRIES):
        seat = seated(room, f"Seat {n}")[1]
        with pytest.raises(NotAllowed, match="Wrong code"):
            room.unlock(seat, "nope")
    _, last = seated(room, "Last")
    with pytest.raises(NotAllowed, match="everyone waits 10 s"):
        room.unlock(last, "nope")
    room.unlocks.clock.now += FORGET_AFTER_S + 1
    _, fresh = seated(room, "Fresh")
    with pytest.raises(NotAllowed, match="2 more tries before a pause"):
        room.unlock(fresh, "nope")


def test_recovery_codes_count_against_the_same_class_limit(room):
    token, ada = seated(room, "Ada")
    for attempt in range(CLASS_FREE_TRIES - 1):
        with pytest.raises(NotAllowed, match="Wrong recovery code"):
            room.recover(new_recovery_code())
    # One teacher-code guess more: the class waits, for recovery codes too.
    with pytest.raises(NotAllowed, match="everyone waits 10 s"):
        room.unlock(ada, "nope")
    real = room.new_recovery_code(ada)
    with pytest.raises(NotAllowed, match="in this class: try again in"):
        room.recover(real)
    assert room.viewer(token).name == "Ada"
    room.unlocks.clock.now += 11
    new_token, _ = room.recover(real)
    assert room.viewer(new_token).seat == ada.seat


# --- names that look alike --------------------------------------------------------------------------

@pytest.mark.parametrize("lookalike", [
    "\u0410d\u0430",            # Cyrillic А and а
    "\uff21\uff44\uff41",       # fullwidth Ａｄａ
    "A\u0301da",                # a combining accent on the A
    "Ada\u0300\u0301\u0302",    # three stacked on the last a
    "ADA",                      # capitals
    "\u0391da",                 # Greek Α
])
def test_a_name_that_looks_like_a_taken_one_is_refused_saying_which(room, lookalike):
    seated(room, "Ada")
    with pytest.raises(NotAllowed) as refused:
        room.join(lookalike)
    assert "“Ada”" in str(refused.value) and ("looks like" in str(refused.value) or "already called" in
                                             str(refused.value))
    assert [seat.name for seat in room.seats.all()] == ["Ada"]


def test_a_rename_to_a_lookalike_is_refused_and_names_that_differ_are_kept(room):
    seated(room, "Bob")
    token, zoe = seated(room, "Zoe")
    with pytest.raises(NotAllowed, match="“B0b” looks like “Bob”"):
        room.rename(zoe, "B0b")
    room.rename(zoe, "Zoe\u0308")   # her own name, with its accent: nobody else looks like it
    for name in ("Bo", "Rob", "Ada Lovelace", "Ada L.", "李雷", "राम"):
        seated(room, name)
    assert len(room.seats.all()) == 8


def test_the_skeleton_is_unicodes():
    assert look("\u0430") == look("a") and look("\uff41") == look("a")
    assert look("m") == look("rn") and look("0") == look("o") and look("I") == look("l")
    assert look("Ada") != look("Ado") and look("Bob") != look("Rob")
    assert parse_table("0430 ;\t0061 ;\tMA\t# ( а → a ) CYRILLIC SMALL LETTER A\n# comment\n\nbad line\n") == {
        "\u0430": "a"}


# --- how many seats, how fast ---------------------------------------------------------------------------

def test_the_class_is_full_at_its_cap_and_says_so(room, monkeypatch):
    monkeypatch.setenv("CIFAR_TF_CLASS_SEATS", "5")
    _, me = teacher(room)
    for n in range(4):
        room.join(f"Student {n}")
    with pytest.raises(NotAllowed, match="The class is full: it has 5 names"):
        room.join("One too many")
    assert len(room.seats.all()) == 5
    room.free_seat(me, next(seat.key for seat in room.seats.all() if seat.name == "Student 0"))
    room.join("One too many")   # a freed name makes room


def test_a_burst_of_newcomers_is_refused_past_the_rate(room, monkeypatch):
    monkeypatch.setenv("CIFAR_TF_CLASS_JOINS_PER_MINUTE", "4")
    for n in range(4):
        room.join(f"Student {n}")
    with pytest.raises(NotAllowed, match=r"Too many newcomers at once \(4 in the last minute\): try again in 60 s"):
        room.join("Fifth")
    room.unlocks.clock.now += 30
    with pytest.raises(NotAllowed, match="try again in 30 s"):
        room.join("Fifth")
    room.unlocks.clock.now += 31
    room.join("Fifth")
    assert len(room.seats.all()) == 5


def test_the_default_cap_holds_and_each_join_reads_the_seats_once(room, monkeypatch):
    """Joining up to the default cap: the cap refuses seat 201, and every join reads and writes
    the seats file once, whatever the class's size (no name compared twice, no re-read)."""
    from cifar_tf import settings

    reads = []
    original = room.folder.read

    def counted(name, default=None):
        reads.append(name)
        return original(name, default)

    monkeypatch.setattr(room.folder, "read", counted)
    for n in range(settings.CLASS_SEATS):
        room.seats.join(f"Student {n}")
        room.unlocks.clock.now += 60 / settings.CLASS_JOINS_PER_MINUTE
    assert reads.count("seats.json") == settings.CLASS_SEATS
    with pytest.raises(NotAllowed, match=f"full: it has {settings.CLASS_SEATS} names"):
        room.join("Student 200b")


def test_the_settings_refuse_nonsense(monkeypatch):
    from cifar_tf import settings

    assert settings.class_seats() == 200 and settings.class_joins_per_minute() == 60
    monkeypatch.setenv("CIFAR_TF_CLASS_SEATS", "lots")
    with pytest.raises(ValueError, match="CIFAR_TF_CLASS_SEATS"):
        settings.class_seats()


# --- recovery codes -------------------------------------------------------------------------------------

def test_a_recovery_code_brings_the_seat_back_on_a_new_browser(room, runs_dir):
    old_token, code = room.join_with_code("Ada")
    ada = room.viewer(old_token)
    run = owned_run(room, ada)
    assert len(code) == 9 and code[4] == "-" and set(code.replace("-", "")) <= set(RECOVERY_ALPHABET)
    assert not set(code) & set("0O1I")
    stored = (runs_dir / ".class" / "seats.json").read_text()
    assert code not in stored and code.replace("-", "") not in stored   # kept hashed
    # A new browser, typing it as people do: small letters, no dash, spaces.
    new_token, new_code = room.recover(f"  {code.replace('-', ' ').lower()} ")
    me = room.viewer(new_token)
    assert me.seat == ada.seat and me.name == "Ada" and can_manage(me, store.load_run(run.id, runs_dir))
    assert new_code != code
    assert not room.viewer(old_token).seated   # one seat, one browser
    with pytest.raises(NotAllowed, match="Wrong recovery code"):
        room.recover(code)   # used once
    third, _ = room.recover(new_code)
    assert room.viewer(third).seat == ada.seat and not room.viewer(new_token).seated


def test_a_seated_student_gets_a_new_code_and_the_old_one_stops(room):
    token, code = room.join_with_code("Ada")
    fresh = room.new_recovery_code(room.viewer(token))
    with pytest.raises(NotAllowed, match="Wrong recovery code"):
        room.recover(code)
    assert room.viewer(room.recover(fresh)[0]).name == "Ada"
    with pytest.raises(NotAllowed, match="name"):
        room.new_recovery_code(room.viewer(None))


def test_teacher_rights_go_with_a_recovered_seat(room):
    token, me = teacher(room)
    code = room.new_recovery_code(me)
    new_token, _ = room.recover(code)
    assert room.viewer(new_token).teacher


# --- the teacher frees names and gives runs away --------------------------------------------------------

def test_the_teacher_frees_a_name_and_its_runs_stay_the_teachers(room, runs_dir):
    ada_token, ada = seated(room, "Ada")
    _, bo = seated(room, "Bo")
    _, me = teacher(room)
    run = owned_run(room, ada, "Ada's run")
    for someone in (ada, bo, Viewer(class_mode=True)):
        assert not may_manage_seats(someone)
        with pytest.raises(NotAllowed, match="Only the teacher can free a name"):
            room.free_seat(someone, bo.seat)
        with pytest.raises(NotAllowed, match="Only the teacher"):
            room.give_runs(someone, ada.seat, bo.seat)
        with pytest.raises(NotAllowed, match="Only the teacher"):
            give_runs(someone, ada.seat, None, runs_dir)
    assert {seat.name for seat in room.seats.all()} == {"Ada", "Bo", "Ms Teacher"}
    with pytest.raises(NotAllowed, match="your own seat"):
        room.free_seat(me, me.seat)
    seat, moved = room.free_seat(me, ada.seat)
    assert seat.name == "Ada" and moved == 1
    assert not room.viewer(ada_token).seated                   # her browser is a newcomer
    run = store.load_run(run.id, runs_dir)
    assert owner_of(run) is None and run.name == "Ada's run"    # nobody's: the teacher's to manage
    assert can_manage(me, run) and not can_manage(bo, run)
    assert (dict(room.owners([run])) == {bo.seat: "Bo", me.seat: "Ms Teacher", ada.seat: "Ada (name freed)"})
    # The name is free again; her old runs can go to her new seat.
    new_token, new_ada = seated(room, "Ada")
    assert room.give_runs(me, ada.seat, new_ada.seat) == 1
    assert owner(room, run) == {"name": "Ada", "seat": new_ada.seat}
    assert can_manage(room.viewer(new_token), store.load_run(run.id, runs_dir))


def test_the_teacher_gives_a_seats_runs_to_another_seat(room, runs_dir):
    _, ada = seated(room, "Ada")
    _, bo = seated(room, "Bo")
    _, me = teacher(room)
    runs = [owned_run(room, ada, f"Ada's {n}") for n in range(2)]
    bos = owned_run(room, bo, "Bo's")
    with pytest.raises(NotAllowed, match="theirs already"):
        room.give_runs(me, ada.seat, ada.seat)
    with pytest.raises(NotAllowed, match="has a name in the class"):
        room.give_runs(me, ada.seat, "no-such-seat")
    assert room.give_runs(me, ada.seat, bo.seat) == 2
    assert all(owner(room, run) == {"name": "Bo", "seat": bo.seat} for run in runs)
    assert owner(room, bos)["seat"] == bo.seat
    assert not can_manage(ada, store.load_run(runs[0].id, runs_dir))
    # Freeing a name while giving its runs to someone.
    seat, moved = room.free_seat(me, bo.seat, give_to=ada.seat)
    assert moved == 3 and all(owner(room, run)["seat"] == ada.seat for run in [*runs, bos])
    record = json.loads((runs_dir / bos.id / "run.json").read_text())
    assert "former_owner" not in record["tags"]
