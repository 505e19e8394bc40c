"""Class mode without a browser: seats and names, the teacher code, who may do what, challenges,
the leaderboard, queue estimates, lessons, links and time budgets."""
import json
import os
import stat

import pytest

from cifar_tf.classroom import challenge as rules
from cifar_tf.classroom.budget import BudgetWatch, over_budget
from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.classroom.leaderboard import leaderboard
from cifar_tf.classroom.links import config_from_link, config_from_params, config_params
from cifar_tf.classroom.queue import queue_with_estimates
from cifar_tf.classroom.roles import Viewer, can_manage, delete_run, read_only_reason, rename_run
from cifar_tf.classroom.room import Classroom
from cifar_tf.classroom.seats import new_token, seat_key
from cifar_tf.classroom.teacher import FREE_TRIES
from cifar_tf.data.cifar10 import validation_size
from cifar_tf.runs import store
from cifar_tf.training.config import TrainConfig
from cifar_tf.training.presets import PRESETS, preset_config
from cifar_tf.validation import InvalidArgument


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


def finished_run(runs_dir, viewer=None, *, accuracy=0.5, seconds=60.0, tags=None, name="run", status="completed",
                 arch="simple_cnn", images_per_second=None):
    owner = {"owner": {"name": viewer.name, "seat": viewer.seat}} if viewer else {}
    run = store.create_run(runs_dir, arch=arch, config=TrainConfig(arch=arch).to_dict(), name=name,
                           status="queued", tags={**owner, **(tags or {})})
    if status != "queued":
        run.finish(status, metrics={"test_accuracy": accuracy, "train_seconds": seconds,
                                    "images_per_second": images_per_second}, params=1000)
    return run


# --- seats and names ----------------------------------------------------------------------------

def test_a_seat_is_found_by_its_token_and_only_its_hash_is_stored(room, runs_dir):
    token, me = seated(room, "Ada")
    assert me.seated and me.name == "Ada" and not me.teacher
    assert me.seat == seat_key(token)
    stored = (runs_dir / ".class" / "seats.json").read_text()
    assert token not in stored and seat_key(token) in stored
    assert room.viewer(token) == me


@pytest.mark.parametrize("forged", [new_token(), "x" * 500, "", None, "../../etc/passwd", "ab cd" * 10],
                         ids=["unknown token", "500 characters", "empty", "none", "a path", "spaces"])
def test_a_forged_or_junk_token_is_a_newcomer_not_someone_else(room, forged):
    seated(room, "Ada")
    nobody = room.viewer(forged)
    assert nobody.class_mode and not nobody.seated and nobody.name is None and not nobody.teacher


def test_a_seat_token_proposed_by_a_browser_is_never_adopted(room):
    proposed = new_token()
    token = room.join("Ada")
    assert token != proposed and not room.viewer(proposed).seated


@pytest.mark.parametrize("typed, message", [("", "cannot be empty"), ("   \n\t ", "cannot be empty"),
                                            ("x" * 500, "Too long: 500 characters, at most 40")])
def test_bad_names_are_refused_with_a_reason(room, typed, message):
    with pytest.raises(NotAllowed, match=message):
        room.join(typed)
    assert room.seats.all() == []


def test_html_and_markdown_in_a_name_are_kept_as_typed_on_one_line(room):
    _, me = seated(room, "<b>Bo</b> **bold**\n# [x](http://e)")
    assert me.name == "<b>Bo</b> **bold** # [x](http://e)"


def test_a_name_someone_holds_is_refused_whatever_its_case(room):
    seated(room, "Ada Lovelace")
    with pytest.raises(NotAllowed, match="already called"):
        room.join("  ada   LOVELACE ")
    token, me = seated(room, "Grace")
    with pytest.raises(NotAllowed, match="already called"):
        room.rename(me, "ADA lovelace")
    room.rename(me, "Grace H.")
    assert room.viewer(token).name == "Grace H."


def test_without_class_mode_everyone_is_the_one_user(runs_dir):
    room = Classroom(runs_dir)
    assert not room.on
    assert room.viewer(None) == Viewer()
    assert room.admit(Viewer(), TrainConfig()) == {}


# --- the teacher code -----------------------------------------------------------------------------

def test_a_made_up_code_is_kept_private_and_survives_a_restart(room, runs_dir):
    code, where = room.code()
    assert len(code) == 8 and code.isalnum() and code.isupper() or any(ch.isdigit() for ch in code)
    path = runs_dir / ".class" / "teacher_code"
    assert where == str(path) and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Classroom(runs_dir).code()[0] == code


def test_the_variable_sets_the_code_and_turns_class_mode_on(runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR_TF_TEACHER_CODE", "pear-tree-42")
    room = Classroom(runs_dir)
    assert room.on and room.code() == ("pear-tree-42", "the CIFAR_TF_TEACHER_CODE variable")
    _, me = seated(room, "Ms Smith")
    room.unlock(me, " pear-tree-42 ")
    assert room.viewer(room.join("Ada")).teacher is False
    assert room.teacher_seats() == {me.seat}


def test_wrong_codes_are_refused_then_paused(room):
    token, me = seated(room, "Ms Smith")
    code, _ = room.code()
    for attempt in range(1, FREE_TRIES):
        with pytest.raises(NotAllowed, match="Wrong code"):
            room.unlock(me, f"guess{attempt}")
    with pytest.raises(NotAllowed, match="wait 10 s"):
        room.unlock(me, "guess3")
    # While paused even the right code waits, and nothing is granted.
    with pytest.raises(NotAllowed, match="try again in 10 s"):
        room.unlock(me, code)
    assert not room.viewer(token).teacher
    room.unlocks.clock.now += 11
    with pytest.raises(NotAllowed, match="wait 20 s"):
        room.unlock(me, "guess4")  # each further wrong try doubles the pause
    room.unlocks.clock.now += 21
    room.unlock(me, code)
    assert room.viewer(token).teacher
    room.lock(me)
    assert not room.viewer(token).teacher


def test_one_seats_wrong_tries_do_not_pause_another(room):
    _, pupil = seated(room, "Pupil")
    _, teacher = seated(room, "Teacher")
    for attempt in range(FREE_TRIES + 1):
        with pytest.raises(NotAllowed):
            room.unlock(pupil, "nope")
    room.unlock(teacher, room.code()[0])
    assert room.teacher_seats() == {teacher.seat}


def test_a_new_code_ends_the_old_teacher_rights(runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR_TF_TEACHER_CODE", "first-code")
    room = Classroom(runs_dir)
    token, me = seated(room, "Ms Smith")
    room.unlock(me, "first-code")
    assert room.viewer(token).teacher
    monkeypatch.setenv("CIFAR_TF_TEACHER_CODE", "second-code")
    assert not room.viewer(token).teacher


def test_a_newcomer_cannot_unlock(room):
    with pytest.raises(NotAllowed, match="name"):
        room.unlock(room.viewer(None), room.code()[0])


# --- who may do what ------------------------------------------------------------------------------

def test_only_the_owner_or_the_teacher_may_manage_a_run(room, runs_dir):
    _, ada = seated(room, "Ada")
    _, bo = seated(room, "Bo")
    teacher_token, _ = seated(room, "Teacher")
    room.unlock(room.viewer(teacher_token), room.code()[0])
    teacher = room.viewer(teacher_token)
    run = finished_run(runs_dir, ada)
    nobodys = finished_run(runs_dir)
    assert can_manage(ada, run) and can_manage(teacher, run) and not can_manage(bo, run)
    assert not can_manage(room.viewer(None), run)
    assert "belongs to Ada" in read_only_reason(bo, run)
    assert not can_manage(ada, nobodys) and can_manage(teacher, nobodys)
    assert "only the teacher" in read_only_reason(ada, nobodys)
    assert can_manage(Viewer(), run) and can_manage(Viewer(), nobodys)  # without class mode: the one user


def test_refused_actions_change_nothing(room, runs_dir):
    _, ada = seated(room, "Ada")
    _, bo = seated(room, "Bo")
    run = finished_run(runs_dir, ada, name="Ada's")
    with pytest.raises(NotAllowed, match="belongs to Ada"):
        rename_run(bo, run.id, "mine now", runs_dir)
    with pytest.raises(NotAllowed):
        delete_run(bo, run.id, runs_dir)
    assert store.load_run(run.id, runs_dir).name == "Ada's"
    rename_run(ada, run.id, "Ada's best", runs_dir)
    delete_run(ada, run.id, runs_dir)
    assert not run.path.exists()


def test_the_demo_run_is_read_only_for_everyone(room, runs_dir):
    teacher_token, _ = seated(room, "Teacher")
    room.unlock(room.viewer(teacher_token), room.code()[0])
    demo = store.demo_run()
    for who in (Viewer(), room.viewer(teacher_token)):
        assert not can_manage(who, demo)
        assert "demo" in read_only_reason(who, demo)


class FakeManager:
    def __init__(self, runs_dir):
        self.runs_dir = runs_dir
        self.submitted, self.stopped = [], []
        self.max_concurrent = 1

    def submit(self, config, *, name=None, tags=None, data_dir=None):
        self.submitted.append((config, tags))
        return finished_run(self.runs_dir, name=name, tags=tags, status="queued")

    def stop(self, run_id):
        self.stopped.append(run_id)

    def running(self):
        return [run for run in store.list_runs(self.runs_dir)[0] if run.status == "running"]


def test_a_seated_manager_makes_runs_theirs_and_stops_only_theirs(room, runs_dir):
    manager = FakeManager(runs_dir)
    _, ada = seated(room, "Ada")
    _, bo = seated(room, "Bo")
    run = room.manager_for(manager, ada).submit(TrainConfig(epochs=1), name="mine")
    assert run.record["tags"]["owner"] == {"name": "Ada", "seat": ada.seat}
    with pytest.raises(NotAllowed, match="belongs to Ada"):
        room.manager_for(manager, bo).stop(run.id)
    room.manager_for(manager, ada).stop(run.id)
    assert manager.stopped == [run.id]
    with pytest.raises(NotAllowed, match="Type your name"):
        room.manager_for(manager, room.viewer(None)).submit(TrainConfig())
    assert room.manager_for(manager, ada).max_concurrent == 1  # the rest is the manager's own


# --- challenges -------------------------------------------------------------------------------------

def quick_challenge(**overrides):
    settings = dict(editable=["learning rate", "epochs", "architecture"], max_epochs=3, max_train_images=2000,
                    archs=["simple_cnn", "resnet20"], preset="quick")
    settings.update(overrides)
    return rules.new_challenge("Quick nets", preset_config("quick", train_limit=2000), **settings)


def test_a_challenge_fixes_what_is_not_open_and_limits_what_is(room, runs_dir):
    challenge = quick_challenge()
    base = challenge.base_config()
    assert rules.problems(challenge, base) == []
    assert rules.problems(challenge, TrainConfig(**{**base.to_dict(), "lr": 0.01, "epochs": 2})) == []
    wrong = TrainConfig(**{**base.to_dict(), "batch_size": 512, "epochs": 9, "arch": "vgg16"})
    found = rules.problems(challenge, wrong)
    assert any("batch_size is fixed at 64" in p for p in found)
    assert any("epochs: at most 3" in p for p in found)
    assert any("arch: simple_cnn, resnet20 only" in p for p in found)
    all_images = TrainConfig(**{**base.to_dict(), "train_limit": 0})
    assert any("train_limit is fixed at 2000" in p for p in rules.problems(challenge, all_images))
    assert rules.apply(challenge, all_images).train_limit == 2000  # apply puts the fixed value back
    assert rules.apply(challenge, wrong).batch_size == 64


def test_the_server_refuses_a_submission_outside_the_challenge(room, runs_dir):
    teacher_token, _ = seated(room, "Teacher")
    room.unlock(room.viewer(teacher_token), room.code()[0])
    teacher = room.viewer(teacher_token)
    challenge = room.set_challenge(teacher, quick_challenge(time_budget_s=120))
    _, ada = seated(room, "Ada")
    manager = FakeManager(runs_dir)
    too_long = TrainConfig(**{**challenge.base, "epochs": 30})
    with pytest.raises(NotAllowed, match="The challenge “Quick nets” does not allow this run: epochs: at most 3"):
        room.manager_for(manager, ada).submit(too_long)
    assert manager.submitted == []
    run = room.manager_for(manager, ada).submit(TrainConfig(**{**challenge.base, "lr": 0.003}))
    assert run.record["tags"]["challenge"] == challenge.id and run.record["tags"]["time_budget_s"] == 120
    # The teacher may train outside the rules; such a run does not count for the challenge.
    outside = room.manager_for(manager, teacher).submit(too_long)
    assert "challenge" not in outside.record["tags"]
    with pytest.raises(NotAllowed, match="Only the teacher"):
        room.set_challenge(ada, quick_challenge())
    room.end_challenge(teacher)
    assert room.challenge() is None


@pytest.mark.parametrize("overrides, name", [({"editable": ["flying"]}, "editable"), ({"archs": ["nope"]}, "archs"),
                                             ({"time_budget_s": 3}, "time_budget_s")])
def test_a_challenge_that_cannot_hold_is_refused_by_name(overrides, name):
    with pytest.raises(InvalidArgument) as refused:
        quick_challenge(**overrides)
    assert refused.value.name == name
    with pytest.raises(InvalidArgument, match="title"):
        rules.new_challenge("", TrainConfig())


def test_a_preset_over_the_limits_is_fitted_to_them_and_says_what_changed():
    # The quick preset trains simple_cnn for 3 epochs on 10,000 images: under at most 2 epochs it was refused.
    two = rules.new_challenge("Two epochs", preset_config("quick"), editable=["learning rate", "epochs"], max_epochs=2,
                              preset="quick")
    assert two.base["epochs"] == 2 and two.preset == "quick"
    assert two.adjusted == ("epochs 3 -> 2 (the challenge allows at most 2)",)
    assert rules.problems(two, two.base_config()) == []
    small = rules.new_challenge("Small", preset_config("quick"), max_epochs=1, max_train_images=2000,
                                archs=["resnet20"], preset="quick")
    assert small.adjusted == ("arch simple_cnn -> resnet20 (the challenge allows resnet20 only)",
                              "epochs 3 -> 1 (the challenge allows at most 1)",
                              "train_limit 10000 -> 2000 (the challenge allows at most 2,000 training images)")
    assert rules.problems(small, small.base_config()) == []
    assert rules.Challenge.from_dict(json.loads(json.dumps(small.to_dict()))) == small  # as the class file keeps it
    assert rules.new_challenge("Fits", preset_config("quick"), max_epochs=5).adjusted == ()


def test_clamp_fits_a_configuration_and_lists_each_change():
    challenge = quick_challenge()  # lr, epochs and the architecture open; 3 epochs, 2,000 images, two architectures
    config, changes = rules.clamp(challenge, TrainConfig(**{**challenge.base, "arch": "vgg16", "epochs": 9,
                                                            "batch_size": 512, "lr": 0.02}))
    assert (config.arch, config.epochs, config.batch_size, config.lr) == ("simple_cnn", 3, 64, 0.02)
    assert changes == ["arch vgg16 -> simple_cnn (the challenge allows simple_cnn, resnet20 only)",
                       "epochs 9 -> 3 (the challenge allows at most 3)",
                       "batch_size 512 -> 64 (the challenge fixes it)"]
    assert rules.problems(challenge, config) == []
    assert rules.clamp(challenge, config) == (config, [])  # what fits stays as it is


def test_a_submission_no_choice_could_make_pass_is_refused_before_it_is_tried():
    challenge = quick_challenge()
    base = challenge.base_config()
    every_image = TrainConfig(**{**challenge.base, "train_limit": 0})  # a search's best, trained fully
    assert rules.refusal(challenge, [base]) is None and rules.refusal(None, [every_image]) is None
    refused = rules.refusal(challenge, [every_image])
    assert "train_limit is fixed at 2000 (this run asks for 0)" in refused
    with pytest.raises(NotAllowed) as submitted:  # the button says what the submission would
        rules.admit(challenge, every_image)
    assert str(submitted.value) == refused
    # What the button's own form chooses is not held against it, unless the form cannot offer what fits.
    assert rules.refusal(challenge, [every_image], free=["train_limit"]) is None
    assert rules.refusal(challenge, [every_image], free={"train_limit": (0, 5000)}) == refused
    with_sam = TrainConfig(**{**challenge.base, "sam_rho": 0.05})  # SAM is not open: a pair can never pass
    assert "sam_rho is fixed at 0" in rules.refusal(challenge, [base, with_sam], free=["train_limit"])


def test_a_damaged_challenge_file_is_no_challenge(room, runs_dir):
    (runs_dir / ".class").mkdir(exist_ok=True)
    (runs_dir / ".class" / "challenge.json").write_text("{not json")
    assert room.challenge() is None


# --- the leaderboard --------------------------------------------------------------------------------

def test_the_leaderboard_ranks_each_students_best_run_under_the_challenge(room, runs_dir):
    challenge = quick_challenge()
    (_, ada), (_, bo) = seated(room, "Ada"), seated(room, "Bo")
    tag = {"challenge": challenge.id}
    finished_run(runs_dir, ada, accuracy=0.61, tags=tag, name="a1")
    finished_run(runs_dir, ada, accuracy=0.72, tags=tag, name="a2")
    finished_run(runs_dir, bo, accuracy=0.72, seconds=30, tags=tag, name="b1")  # same score, faster
    finished_run(runs_dir, bo, accuracy=0.99, name="outside the challenge")
    finished_run(runs_dir, ada, accuracy=0.99, tags=tag, status="failed", name="failed")
    finished_run(runs_dir, accuracy=0.99, tags=tag, name="nobody's")
    runs = store.list_runs(runs_dir)[0]
    rows = leaderboard(runs, challenge, room.names())
    assert [(r["rank"], r["student"], r["run"]) for r in rows] == [(1, "Bo", "b1"), (2, "Ada", "a2")]
    assert rows[1]["runs"] == 2 and rows[0]["test accuracy"] == pytest.approx(0.72)
    room.rename(ada, "Ada L.")
    assert leaderboard(runs, challenge, room.names())[1]["student"] == "Ada L."
    assert [r["run"] for r in leaderboard(runs, None, room.names())] == ["outside the challenge", "a2"]
    assert [r["student"] for r in leaderboard(runs, challenge, room.names(), {bo.seat})] == ["Ada L."]


# --- the queue --------------------------------------------------------------------------------------

def test_queued_runs_get_start_estimates_from_measured_speed(runs_dir):
    finished_run(runs_dir, images_per_second=100.0)
    first = finished_run(runs_dir, status="queued", name="first")
    second = finished_run(runs_dir, status="queued", name="second")
    config = first.record["config"]
    expected = config["epochs"] * (50_000 - validation_size(config["val_size"], 50_000)) / 100.0
    estimates = queue_with_estimates(store.list_runs(runs_dir)[0], slots=1)
    assert [(run.name, wait) for run, wait in estimates] == [("first", 0.0), ("second", pytest.approx(expected))]
    assert [wait for _, wait in queue_with_estimates(store.list_runs(runs_dir)[0], slots=2)] == [0.0, 0.0]
    assert second.id != first.id


def test_without_any_measured_speed_the_start_is_unknown(runs_dir):
    finished_run(runs_dir, status="queued", name="first")
    finished_run(runs_dir, status="queued", name="second")
    assert [wait for _, wait in queue_with_estimates(store.list_runs(runs_dir)[0], slots=1)] == [0.0, None]


def test_a_queued_search_waits_in_the_same_queue_and_the_teachers_table_lists_it(room, runs_dir):
    import time

    from cifar_tf.search import store as search_store
    from cifar_tf.views.classroom import queue_table

    (_, ada), (_, bo) = seated(room, "Ada"), seated(room, "Bo")
    finished_run(runs_dir, images_per_second=100.0)
    first = finished_run(runs_dir, ada, status="queued", name="first")
    time.sleep(1.1)   # queued a second later: behind the first run
    search = search_store.new_search(runs_dir, space="seed001", max_trials=4, epochs=2, workers=2,
                                     check_values=False, tags={"owner": {"name": "Bo", "seat": bo.seat}})
    time.sleep(1.1)
    behind = finished_run(runs_dir, ada, status="queued", name="behind the search")
    runs, searches = store.list_runs(runs_dir)[0], search_store.list_searches(runs_dir)
    length = first.record["config"]["epochs"] * (50_000 - validation_size(first.record["config"]["val_size"], 50_000)) / 100.0
    # Two slots: the first run starts now; the search needs both, so it starts when the first run ends,
    # and holds them for a time nobody knows: the run behind it has no estimate.
    waits = [(item.id, wait) for item, wait in queue_with_estimates(runs, slots=2, searches=searches)]
    assert waits == [(first.id, 0.0), (search.id, pytest.approx(length)), (behind.id, None)]
    table = queue_table(runs, 2, room.names(), searches=searches)
    assert list(table["run"]) == ["first", search.name, "behind the search"]
    assert list(table["student"]) == ["Ada", "Bo", "Ada"]
    assert list(table["status"]) == ["queued", "queued search, 2 trials at once", "queued"]
    assert list(table["starts"])[2] == "unknown"


# --- lessons ------------------------------------------------------------------------------------------

def test_archiving_moves_finished_runs_aside_and_restoring_brings_them_back(room, runs_dir):
    teacher_token, _ = seated(room, "Teacher")
    room.unlock(room.viewer(teacher_token), room.code()[0])
    teacher = room.viewer(teacher_token)
    done = finished_run(runs_dir, name="done")
    busy = finished_run(runs_dir, status="queued", name="busy")
    with pytest.raises(NotAllowed):
        room.archive(room.viewer(room.join("Ada")))
    lesson, moved, active = room.archive(teacher)
    assert [r.id for r in moved] == [done.id] and [r.id for r in active] == [busy.id]
    assert [r.id for r in store.list_runs(runs_dir)[0]] == [busy.id]
    assert (runs_dir / ".class" / "archive" / lesson / done.id / "run.json").is_file()
    assert room.lessons() == [{"id": lesson, "title": None, "archived_at": room.lessons()[0]["archived_at"], "runs": 1}]
    assert room.restore(teacher, lesson) == 1
    assert {r.id for r in store.list_runs(runs_dir)[0]} == {done.id, busy.id}
    assert room.lessons() == []
    with pytest.raises(NotAllowed):
        room.restore(teacher, "../../etc")


# --- links --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_configuration_link_gives_back_the_same_configuration(preset):
    config = preset_config(preset).checked(build=False)
    again, problems = config_from_params(config_params(config))
    assert problems == []
    assert rules.problems(rules.new_challenge("same", config), again) == []  # equal setting by setting


def test_a_link_with_mistakes_fills_in_the_rest_and_names_each_mistake():
    config, problems = config_from_params({"arch": "resnet20", "epochs": "abc", "lr": "0.05", "hp.bogus": "1",
                                           "batch_size": "-3", "run": "20260101-000000-abcdef", "preset": "zzz"})
    assert config.arch == "resnet20" and config.lr == 0.05 and config.epochs == 10 and config.batch_size == 64
    assert any(p.startswith("epochs='abc'") for p in problems)
    assert any("bogus" in p for p in problems) and any("batch_size" in p for p in problems)
    assert any("no such preset" in p for p in problems)
    assert config_from_params({"run": "x", "view": "projector"}) == (None, [])
    assert config_from_link("http://127.0.0.1:8501/train?preset=quick&epochs=2")[0].epochs == 2


# --- time budgets -------------------------------------------------------------------------------------

def test_a_run_over_its_time_budget_is_stopped(runs_dir):
    run = finished_run(runs_dir, status="queued", tags={"time_budget_s": 60})
    run.start()
    other = finished_run(runs_dir, status="queued")
    other.start()
    clock = Clock()
    from cifar_tf.runs.files import timestamp
    clock.now = timestamp(run.record["started_at"]) + 30
    manager = FakeManager(runs_dir)
    assert over_budget(manager.running(), clock) == [] and BudgetWatch(manager, clock=clock).check() == []
    clock.now += 61
    assert [r.id for r in over_budget(manager.running(), clock)] == [run.id]
    assert BudgetWatch(manager, clock=clock).check() == [run.id] and manager.stopped == [run.id]


def test_class_files_are_json_that_other_sessions_read(room, runs_dir):
    seated(room, "Ada")
    assert json.loads((runs_dir / ".class" / "seats.json").read_text())
    assert store.list_runs(runs_dir) == ([], [])  # the class folder is not taken for a run


def test_the_command_line_tells_the_teacher_the_code(room, runs_dir, capsys):
    from cifar_tf.cli import main

    assert main(["class", "code", "--runs-dir", str(runs_dir)]) == 0
    code, _ = room.code()
    assert capsys.readouterr().out.strip() == f"The teacher code is {code} (kept in {runs_dir / '.class' / 'teacher_code'})."
