"""Searches go through the run manager: queued like runs, under the same cap, started and stopped by
it, and owned (in class mode, only the owner or the teacher may stop or resume one)."""
import functools
import subprocess
import sys

import pytest

from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.classroom.room import Classroom
from cifar_tf.runs import local, store
from cifar_tf.runs.manager import RunManager
from cifar_tf.search import store as search_store
from cifar_tf.training.config import TrainConfig

CONFIG = TrainConfig(arch="simple_cnn", epochs=1).to_dict()


@pytest.fixture
def spawned(monkeypatch):
    """What the manager starts: the command line of each process, each a sleeping stand-in for a
    worker (no training here), ended after the test."""
    started, processes = [], []

    def spawn(arguments, log_path, env=None, **kwargs):
        started.append(arguments)
        processes.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]))
        return processes[-1]

    monkeypatch.setattr(local, "spawn", spawn)
    yield started
    for process in processes:
        process.kill()
        process.wait()


def new_search(runs_dir, name="a search"):
    """What the Search page submits: a search folder made by the search store, checked but not built."""
    return functools.partial(search_store.new_search, runs_dir, space="seed001", tuner="random", max_trials=2,
                             epochs=1, workers=1, name=name, check_values=False)


def end(manager, folder):
    """The process behind `folder` ends without a word (killed): the manager records it and frees its slot."""
    process = manager.executors["local"]._processes.pop(folder.id)
    process.kill()
    process.wait()
    manager.poll()


def test_a_search_submitted_while_the_cap_is_full_waits_then_starts(runs_dir, spawned):
    manager = RunManager(runs_dir, max_concurrent=2)
    busy = [store.create_run(runs_dir, arch="simple_cnn", config=CONFIG, status="queued") for _ in range(2)]
    manager.poll()
    assert spawned == [["worker", str(run.path.resolve())] for run in busy]

    search = manager.submit_search(new_search(runs_dir))
    assert search.status == "queued" and manager.queue_position(search.id) == 1
    later = store.create_run(runs_dir, arch="simple_cnn", config=CONFIG, status="queued")
    assert manager.queue_position(later.id) == 2 and len(spawned) == 2

    end(manager, busy[0])   # a slot frees: the search, first in the queue, takes it
    search = search_store.load_search(search.id, runs_dir)
    assert search.status == "running" and spawned[2] == ["search-worker", str(search.path.resolve())]
    assert search.record["pid"] and manager.queue_position(later.id) == 1

    # Its trials are runs of its own that train in its slot: when the other run ends, the one behind
    # the search starts beside it.
    trial = store.create_run(runs_dir, arch="simple_cnn", config=CONFIG, tags={"search": search.id, "trial": "0"})
    trial.start()
    manager.poll()
    assert store.load_run(later.id, runs_dir).status == "queued" and len(spawned) == 3
    end(manager, busy[1])
    assert store.load_run(later.id, runs_dir).status == "running" and spawned[3] == ["worker", str(later.path.resolve())]

    stopped = manager.stop_search(search.id)
    assert stopped.status == "running" and stopped.stop_requested()   # its trial finishes its batch first


def test_a_queued_search_stopped_never_starts_and_a_resumed_one_queues_again(runs_dir, spawned):
    manager = RunManager(runs_dir, max_concurrent=1)
    busy = store.create_run(runs_dir, arch="simple_cnn", config=CONFIG, status="queued")
    search = manager.submit_search(new_search(runs_dir))
    assert manager.stop_search(search.id).status == "stopped"
    other = manager.submit_search(new_search(runs_dir, "other"))
    with pytest.raises(ValueError, match=f"search {other.id} is queued: only a stopped or failed search can be"):
        manager.resume_search(other.id)
    end(manager, busy)
    assert search_store.load_search(search.id, runs_dir).status == "stopped"   # the other one took the slot
    assert search_store.load_search(other.id, runs_dir).status == "running" and len(spawned) == 2

    resumed = manager.resume_search(search.id)
    assert resumed.status == "queued" and resumed.record["error"] is None
    assert manager.queue_position(search.id) == 1


def test_only_its_owner_or_the_teacher_may_stop_or_resume_a_search(runs_dir, spawned, monkeypatch):
    from cifar_tf.classroom.challenge import new_challenge

    monkeypatch.setenv("CIFAR_TF_CLASS_MODE", "1")
    room, manager = Classroom(runs_dir), RunManager(runs_dir, max_concurrent=1)
    tokens = {name: room.join(name) for name in ("Ada", "Bob", "Teacher")}
    room.unlock(room.viewer(tokens["Teacher"]), room.code()[0])
    ada, bob, teacher = (room.viewer(tokens[name]) for name in ("Ada", "Bob", "Teacher"))
    as_ada, as_bob, as_teacher = (room.manager_for(manager, viewer) for viewer in (ada, bob, teacher))

    search = as_ada.submit_search(new_search(runs_dir))
    assert search.status == "running" and search.record["tags"]["owner"] == {"name": "Ada", "seat": ada.seat}
    with pytest.raises(NotAllowed, match="This search belongs to Ada: only they or the teacher can stop or resume it"):
        as_bob.stop_search(search.id)
    assert not search_store.load_search(search.id, runs_dir).stop_requested()

    other = as_ada.submit_search(new_search(runs_dir, "another"))   # the cap is full: it waits
    with pytest.raises(NotAllowed, match="belongs to Ada"):
        as_bob.stop_search(other.id)
    assert as_teacher.stop_search(other.id).status == "stopped"
    with pytest.raises(NotAllowed, match="belongs to Ada"):
        as_bob.resume_search(other.id)
    assert as_ada.resume_search(other.id).status == "queued"
    assert as_ada.stop_search(search.id).stop_requested()

    # A search's trials are not held to a challenge's rules: under one, searches are the teacher's.
    room.set_challenge(teacher, new_challenge("Quick", TrainConfig(arch="simple_cnn", epochs=1)))
    with pytest.raises(NotAllowed, match="While a challenge is on, searches are the teacher's"):
        as_bob.submit_search(new_search(runs_dir, "refused"))
    assert as_teacher.submit_search(new_search(runs_dir, "the teacher's")).record["tags"]["owner"]["name"] == "Teacher"
    assert len(search_store.list_searches(runs_dir)) == 3


def test_the_command_line_stops_a_search_through_the_run_manager(runs_dir, spawned, capsys):
    from cifar_tf.cli import main

    manager = RunManager(runs_dir, max_concurrent=1)
    busy = store.create_run(runs_dir, arch="simple_cnn", config=CONFIG, status="queued")
    manager.poll()
    search = manager.submit_search(new_search(runs_dir))
    assert main(["searches", "stop", search.id, "--runs-dir", str(runs_dir)]) in (0, None)
    assert capsys.readouterr().out.strip() == f"search {search.id} is stopped"
    end(manager, busy)
    assert search_store.load_search(search.id, runs_dir).status == "stopped" and len(spawned) == 1


def test_a_search_the_command_line_trains_is_claimed_so_that_no_manager_starts_it(runs_dir, spawned):
    import os

    from cifar_tf.runs.manager import claim_search

    manager = RunManager(runs_dir, max_concurrent=1)
    search = search_store.new_search(runs_dir, space="seed001", tuner="random", max_trials=1, epochs=1,
                                     check_values=False, status="running")   # as `python -m cifar_tf search` makes one
    manager.poll()
    assert spawned == [] and search_store.load_search(search.id, runs_dir).record["pid"] == os.getpid()
    with pytest.raises(RuntimeError, match=f"search {search.id} is already running"):
        claim_search(search)

    queued = manager.submit_search(new_search(runs_dir))   # the cap is taken by the one above
    assert queued.status == "queued"
    claimed = claim_search(search_store.load_search(queued.id, runs_dir))   # `search --search-id ID`
    assert claimed.status == "running" and claimed.record["pid"] == os.getpid()
    manager.poll()
    assert spawned == []
