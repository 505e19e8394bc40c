"""Class mode under AppTest: the sidebar's name and teacher code, ownership on Train and Runs,
the Teacher and Leaderboard pages, configuration links."""
import pytest
from streamlit.testing.v1 import AppTest

from cifar_tf.classroom.room import Classroom
from cifar_tf.runs import store
from cifar_tf.training.config import TrainConfig
from helpers import APP, shown

CODE = "apple-pie-314"


@pytest.fixture
def room(app_env, monkeypatch):
    """Class mode over the app's runs, with a queue that starts nothing."""
    from cifar_tf.runs.manager import RunManager
    from pages.common import _manager

    monkeypatch.setenv("CIFAR_TF_TEACHER_CODE", CODE)
    monkeypatch.setattr(RunManager, "poll", lambda self: None)
    monkeypatch.setattr(RunManager, "start_background", lambda self: self)
    _manager.clear()
    yield Classroom(app_env)
    _manager.clear()


def open_as(token, page=None, query=None):
    at = AppTest.from_file(APP, default_timeout=90)
    if token:
        at.session_state["class_seat"] = token
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def student(room, name):
    token = room.join(name)
    return token, room.viewer(token)


def teacher(room):
    token = room.join("Ms Teacher")
    room.unlock(room.viewer(token), CODE)
    return token, room.viewer(token)


def owned_run(room, viewer, name, status="queued"):
    tags = {"owner": {"name": viewer.name, "seat": viewer.seat}}
    return store.create_run(room.folder.runs_dir, arch="simple_cnn", config=TrainConfig(epochs=1).to_dict(),
                            name=name, status=status, tags=tags)


def errors(at):
    return [shown(e.value) for e in at.error]


def sidebar_text(at):
    return " ".join(shown(m.value) for m in at.sidebar.markdown)


def button(at, label):
    return next(b for b in at.button if b.label == label)


# --- names ------------------------------------------------------------------------------------------

def test_a_newcomer_types_a_name_once_and_the_sidebar_shows_it(room):
    at = open_as(None, "pages/leaderboard.py")   # any page but Home, which asks in its main column
    assert not at.exception
    at.sidebar.text_input[0].set_value("   ")  # a form: the value goes with the click
    at.sidebar.button[0].click().run()
    assert any("cannot be empty" in shown(e.value) for e in at.sidebar.error)
    at.sidebar.text_input[0].set_value("x" * 500)
    at.sidebar.button[0].click().run()
    assert any("Too long: 500 characters" in shown(e.value) for e in at.sidebar.error)
    assert room.seats.all() == []
    at.sidebar.text_input[0].set_value("<img src=x onerror=1> **Bo** [me](x)")
    at.sidebar.button[0].click().run()
    assert not at.exception, at.exception
    assert not at.sidebar.error, [e.value for e in at.sidebar.error]
    assert "<img src=x onerror=1> **Bo** [me](x)" in sidebar_text(at)
    assert "\\<img" in " ".join(m.value for m in at.sidebar.markdown)  # escaped, shown as text
    token = at.session_state["class_seat"]
    assert room.viewer(token).name.startswith("<img")
    assert len(at.get("html")) == 1  # the cookie that keeps the seat in this browser


def test_a_forged_seat_token_is_a_newcomer(room):
    student(room, "Ada")
    for forged in ("x" * 43, "not a token at all", "A" * 500):
        at = open_as(forged)
        assert not at.exception
        assert at.main.text_input[0].label == "Your name"
        assert "Ada" not in sidebar_text(at)


def test_without_class_mode_there_is_no_name_to_type(app_env):
    at = open_as(None)
    assert not at.exception
    assert not at.sidebar.text_input
    assert "Leaderboard" not in str(at.get("navigation")) and "Leaderboard" not in str(at._tree)


# --- the teacher code --------------------------------------------------------------------------------

def test_a_wrong_teacher_code_is_refused_and_repeated_tries_pause(room):
    token, _ = student(room, "Sneaky")
    at = open_as(token)
    for attempt in range(3):
        next(t for t in at.sidebar.text_input if t.label == "Teacher code").set_value(f"guess-{attempt}")
        button(at, "Unlock teacher rights").click().run()
    errors = [e.value for e in at.sidebar.error]
    assert any("Wrong code" in e and "wait 10 s" in e for e in map(shown, errors)), errors
    next(t for t in at.sidebar.text_input if t.label == "Teacher code").set_value(CODE)
    button(at, "Unlock teacher rights").click().run()
    assert any("try again in" in shown(e.value) for e in at.sidebar.error)
    assert not room.viewer(token).teacher


def test_the_right_code_unlocks_the_teacher_page(room):
    token, _ = student(room, "Ms Smith")
    at = open_as(token)
    next(t for t in at.sidebar.text_input if t.label == "Teacher code").set_value(CODE)
    button(at, "Unlock teacher rights").click().run()
    assert not at.exception
    assert "teacher" in sidebar_text(at)
    at.switch_page("pages/teacher.py").run()
    assert not at.exception
    assert at.title[0].value == "Teacher"
    assert any(b.label == "Set the challenge" for b in at.button)


# --- ownership ---------------------------------------------------------------------------------------

def test_a_student_watches_but_cannot_stop_anothers_run(room):
    (ada_token, ada), (bo_token, _) = student(room, "Ada"), student(room, "Bo")
    run = owned_run(room, ada, "Ada's run")
    at = open_as(bo_token, "pages/train.py", {"run": run.id})
    assert not at.exception
    assert not any(b.label == "Stop" for b in at.button)
    assert any("belongs to Ada" in shown(c.value) for c in at.caption)
    at = open_as(ada_token, "pages/train.py", {"run": run.id})
    button(at, "Stop").click().run()
    assert store.load_run(run.id, room.folder.runs_dir).status == "stopped"


def test_the_teacher_stops_any_run(room):
    _, ada = student(room, "Ada")
    token, _ = teacher(room)
    run = owned_run(room, ada, "Ada's run")
    at = open_as(token, "pages/train.py", {"run": run.id})
    button(at, "Stop").click().run()
    assert not at.exception
    assert store.load_run(run.id, room.folder.runs_dir).status == "stopped"


def pick_on_runs(at, run_id):
    return at.multiselect(key="runs_compare").set_value([run_id]).run()


def test_on_runs_only_the_owner_or_teacher_may_rename_or_delete(room):
    (_, ada), (bo_token, _) = student(room, "Ada"), student(room, "Bo")
    run = owned_run(room, ada, "Ada's run", status="queued")
    run.finish("completed")
    at = pick_on_runs(open_as(bo_token, "pages/runs.py"), run.id)
    assert not at.exception
    assert "owner" in at.dataframe[0].value.columns
    assert any("belongs to Ada" in shown(c.value) for c in at.info)
    assert button(at, "Rename").disabled and button(at, "Delete run").disabled
    assert at.text_input(key=f"rename_{run.id}").disabled
    token, _ = teacher(room)
    at = pick_on_runs(open_as(token, "pages/runs.py"), run.id)
    at.checkbox(key=f"sure_{run.id}").check().run()
    button(at, "Delete run").click().run()
    assert not at.exception
    assert not run.path.exists()


def test_the_demo_run_cannot_be_deleted_from_the_app(app_env, monkeypatch):
    monkeypatch.delenv("CIFAR_TF_RUNS_DIR")  # the project's models/, where the demo run lives
    at = pick_on_runs(open_as(None, "pages/runs.py"), store.DEMO_RUN)
    assert not at.exception
    assert any("demo run" in shown(c.value) for c in at.info)
    assert not any(b.label == "Delete run" for b in at.button) and button(at, "Rename").disabled


# --- the challenge on the Train page -------------------------------------------------------------

def set_challenge(room, teacher_token, **settings):
    at = open_as(teacher_token, "pages/teacher.py")
    next(t for t in at.text_input if t.label == "Title").set_value("Three epochs of simple_cnn")
    next(s for s in at.selectbox if s.label == "Start from").set_value("quick")
    next(m for m in at.multiselect if m.label == "Students may change").set_value(settings.get("editable", ["learning rate", "epochs"]))
    next(n for n in at.number_input if n.label.startswith("Most epochs")).set_value(settings.get("max_epochs", 3))
    button(at, "Set the challenge").click().run()
    assert not at.exception
    return at


def test_a_challenge_shows_students_only_what_they_may_change(room):
    token, _ = teacher(room)
    at = set_challenge(room, token)
    assert any("Three epochs" in s.value for s in at.success)
    challenge = room.challenge()
    assert challenge.max_epochs == 3 and challenge.preset == "quick"
    student_token, _ = student(room, "Ada")
    at = open_as(student_token, "pages/train.py")
    assert not at.exception
    assert any("Three epochs of simple" in shown(i.value) for i in at.info)
    labels = {w.label for kind in ("number_input", "selectbox", "text_input", "checkbox", "toggle")
              for w in getattr(at, kind)}
    assert {"Epochs", "Learning rate"} <= labels
    assert not labels & {"Batch size", "Optimizer", "Augmentation", "Seed", "Architecture", "Training images"}
    assert not any(b.label == "quick" for b in at.button)  # no presets under a challenge
    epochs = next(n for n in at.number_input if n.label == "Epochs")
    assert epochs.max == 3 and epochs.value == 3
    next(n for n in at.number_input if n.label == "Learning rate").set_value(0.002).run()
    button(at, "Start training").click().run()
    assert not at.exception
    run = next(r for r in store.list_runs(room.folder.runs_dir)[0] if (r.record.get("tags") or {}).get("owner"))
    assert run.record["tags"]["challenge"] == challenge.id and run.record["config"]["lr"] == 0.002
    assert run.record["config"]["train_limit"] == 10000  # the quick preset's, fixed
    # The teacher still sees every setting.
    at = open_as(token, "pages/train.py")
    assert any(s.label == "Batch size" for s in at.selectbox)


def test_the_sharpness_lab_cannot_train_a_pair_the_challenge_refuses(room):
    token, _ = teacher(room)
    set_challenge(room, token)
    student_token, _ = student(room, "Ada")
    at = open_as(student_token, "pages/lab_sharpness.py")
    assert not at.exception
    both = button(at, "Train both")
    # The quick preset's validation split (none set) is fixed, and the pair's form offers 500 to 5,000 images:
    # whatever it says, the pair is refused, so the button says so (as SAM, fixed off, would too).
    assert both.disabled
    assert "does not allow this run: val_size is fixed at none" in shown(both.help)
    assert not button(open_as(token, "pages/lab_sharpness.py"), "Train both").disabled  # the teacher may
    room.end_challenge(room.viewer(token))
    assert not button(open_as(student_token, "pages/lab_sharpness.py"), "Train both").disabled


def finished_search(runs_dir, config):
    """A completed search of one trial that trained `config`."""
    from cifar_tf.search import store as search_store

    search = search_store.new_search(runs_dir, space="seed001", max_trials=1, epochs=2, check_values=False)
    trial = search.project_dir / "trial_0"
    trial.mkdir(parents=True)
    (trial / "trial.json").write_text('{"trial_id": "0", "status": "COMPLETED", "score": 0.5, '
                                      '"hyperparameters": {"values": {"lr": 0.001}}}')
    run = store.create_run(runs_dir, arch=config["arch"], config=config, name="trial 0", status="queued",
                           tags={"search": search.id, "trial": "0"})
    run.finish("completed", metrics={"best_val_accuracy": 0.5, "test_accuracy": 0.5})
    search.update(status="completed", ended_by="every trial done")
    return search


def test_the_best_of_a_search_cannot_be_trained_fully_outside_the_challenge(room):
    token, _ = teacher(room)
    set_challenge(room, token)
    finished_search(room.folder.runs_dir, room.challenge().base)
    student_token, _ = student(room, "Ada")
    at = open_as(student_token, "pages/search.py")
    assert not at.exception
    train_best = button(at, "Train the best configuration fully")
    # A full training uses every training image; the challenge fixes 10,000: the submission would be refused.
    assert train_best.disabled
    assert "train_limit is fixed at 10000 (this run asks for 0)" in shown(train_best.help)
    assert not button(open_as(token, "pages/search.py"), "Train the best configuration fully").disabled


def test_a_preset_over_the_challenges_limits_is_fitted_and_the_changes_listed(room):
    token, _ = teacher(room)
    at = set_challenge(room, token, max_epochs=2)  # the quick preset trains 3 epochs: this was refused
    assert not at.error, errors(at)
    assert any("fitted to the limits" in shown(s.value) for s in at.success)
    assert any("epochs 3 -> 2 (the challenge allows at most 2)" in shown(i.value) for i in at.info)
    challenge = room.challenge()
    assert challenge.base["epochs"] == 2 and challenge.adjusted == ("epochs 3 -> 2 (the challenge allows at most 2)",)
    student_token, _ = student(room, "Ada")
    at = open_as(student_token, "pages/train.py")
    assert next(n for n in at.number_input if n.label == "Epochs").value == 2
    # A link over the limits fills the form as far as the challenge allows, and says what it changed.
    at = open_as(student_token, "pages/train.py", {"preset": "quick", "epochs": "9", "batch_size": "256", "lr": "0.004"})
    assert not at.exception
    assert next(n for n in at.number_input if n.label == "Epochs").value == 2
    assert next(n for n in at.number_input if n.label == "Learning rate").value == 0.004
    listed = [shown(i.value) for i in at.info if "changed the link's settings" in i.value]
    assert listed and "epochs 9 -> 2 (the challenge allows at most 2)" in listed[0]
    assert "batch_size 256 -> 64 (the challenge fixes it)" in listed[0] and "lr" not in listed[0].split(":", 1)[1]


def test_a_run_cannot_start_without_a_name_in_class_mode(room):
    at = open_as(None, "pages/train.py")
    next(n for n in at.number_input if n.label == "Epochs").set_value(1).run()
    button(at, "Start training").click().run()
    assert any("Type your name in the sidebar" in shown(e.value) for e in at.error)
    assert store.list_runs(room.folder.runs_dir)[0] and all(r.status != "queued" for r in store.list_runs(room.folder.runs_dir)[0])


# --- links -------------------------------------------------------------------------------------------

def test_a_configuration_link_fills_the_form(app_env):
    at = open_as(None, "pages/train.py", {"arch": "resnet20", "epochs": "3", "lr": "0.05", "batch_size": "banana"})
    assert not at.exception
    assert next(s for s in at.selectbox if s.label == "Architecture").value == "resnet20"
    assert next(n for n in at.number_input if n.label == "Epochs").value == 3
    assert next(n for n in at.number_input if n.label == "Learning rate").value == 0.05
    assert any("batch_size" in shown(w.value) and "banana" in w.value for w in at.warning)
    assert "arch" not in at.query_params and "epochs" not in at.query_params
    links = [c.value for c in at.code]
    assert any("train?arch=resnet20" in link and "epochs=3" in link for link in links), links
    # A batch size the list does not offer is kept, not swapped for the list's first (the benchmark's
    # link of batch 50 once trained at 16).
    at = open_as(None, "pages/train.py", {"arch": "fast_cnn", "batch_size": "50"})
    assert next(s for s in at.selectbox if s.label == "Batch size").value == 50 and not at.warning


# --- the leaderboard ---------------------------------------------------------------------------------

def test_the_leaderboard_ranks_students_and_has_a_projector_view(room):
    (_, ada), (_, bo) = student(room, "Ada"), student(room, "<b>Bo</b>")
    for viewer, accuracy in ((ada, 0.61), (bo, 0.74)):
        run = owned_run(room, viewer, f"{viewer.name}'s run")
        run.finish("completed", metrics={"test_accuracy": accuracy, "train_seconds": 42.0}, params=1234)
    at = open_as(None, "pages/leaderboard.py")
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["student"]) == ["<b>Bo</b>", "Ada"] and list(table["rank"]) == [1, 2]
    assert not any("stSidebar" in h.proto.body for h in at.get("html"))
    at.toggle(key="board_projector").set_value(True).run()
    assert any('[data-testid="stSidebar"]' in h.proto.body for h in at.get("html"))  # the board gets the width
    html = next(h.proto.body for h in at.get("html") if "class='board'" in h.proto.body)
    assert "&lt;b&gt;Bo&lt;/b&gt;" in html and "<b>Bo</b>" not in html and "74.0%" in html
    assert at.query_params["view"] == "projector" or at.query_params["view"] == ["projector"]


def start_search(at, name):
    at.number_input(key="search_epochs_seed001").set_value(1).run()
    at.text_input(key="search_name").input(name)
    at.button(key="search_start").click().run()
    return at


def test_a_students_search_is_theirs_and_under_a_challenge_searches_are_the_teachers(room):
    from cifar_tf.search import store as search_store

    ada_token, _ = student(room, "Ada")
    at = start_search(open_as(ada_token, "pages/search.py"), "Ada's search")
    assert not at.exception and not errors(at), errors(at)
    [search] = search_store.list_searches(room.folder.runs_dir)
    assert search.status == "queued" and search.record["tags"]["owner"]["name"] == "Ada"
    assert any("Started by Ada." in shown(c.value) for c in at.caption)
    assert not at.button(key=f"search_stop_{search.id}").disabled

    bo_token, _ = student(room, "Bo")
    at = open_as(bo_token, "pages/search.py")
    assert at.button(key=f"search_stop_{search.id}").disabled   # and the manager refuses anyway
    teacher_token, _ = teacher(room)
    at = open_as(teacher_token, "pages/search.py")
    at.button(key=f"search_stop_{search.id}").click().run()
    assert not at.exception and search_store.load_search(search.id, room.folder.runs_dir).status == "stopped"

    set_challenge(room, teacher_token)
    at = start_search(open_as(bo_token, "pages/search.py"), "Bo's search")
    assert any("While a challenge is on, searches are the teacher's" in e for e in errors(at))
    assert len(search_store.list_searches(room.folder.runs_dir)) == 1


# --- Home's prompt, recovery codes, the teacher's seat controls --------------------------------------

def home_field(at, label):
    return next(t for t in at.main.text_input if t.label == label)


def test_home_asks_a_newcomer_for_a_name_first_and_shows_the_recovery_code(room):
    at = open_as(None)
    assert not at.exception
    first = at.main.children[0]   # before the title and everything else: a phone shows it first
    assert "Join the class" in first.header[0].value and first.text_input[0].label == "Your name"
    assert at.main.children[1].type == "title"
    assert not at.sidebar.text_input   # one name box on the page: Home's
    assert any("on this page" in c.value for c in at.sidebar.caption)
    home_field(at, "Your name").set_value("*Ada* <i>x</i>")
    button(at, "Join the class").click().run()
    assert not at.exception and not at.error
    token = at.session_state["class_seat"]
    assert room.viewer(token).name == "*Ada* <i>x</i>" and "*Ada* <i>x</i>" in sidebar_text(at)
    # The recovery code, first on Home, once: it brings the seat back.
    assert "recovery code" in at.main.children[0].subheader[0].value
    code = at.main.children[0].code[0].value
    assert len(code) == 9 and code[4] == "-"
    button(at, "I wrote it down").click().run()
    assert not any(c.value == code for c in at.code) and at.main.children[0].type == "title"
    new_token, _ = room.recover(code)
    assert room.viewer(new_token).name == "*Ada* <i>x</i>" and not room.viewer(token).seated


def test_home_takes_a_recovery_code_on_a_new_browser(room):
    token, code = room.join_with_code("Ada")
    _, ada = student(room, "Bo")
    at = open_as(None)
    home_field(at, "Recovery code").set_value("nope-nope")
    button(at, "Get my name back").click().run()
    assert any("Wrong recovery code" in shown(e.value) for e in at.error)
    assert "class_seat" not in at.session_state
    home_field(at, "Recovery code").set_value(code.lower().replace("-", " "))
    button(at, "Get my name back").click().run()
    assert not at.exception and not at.error
    new_token = at.session_state["class_seat"]
    assert room.viewer(new_token).name == "Ada" and not room.viewer(token).seated
    assert "Ada" in sidebar_text(at) and not at.main.text_input
    new_code = at.main.children[0].code[0].value
    assert new_code != code and room.viewer(room.recover(new_code)[0]).name == "Ada"


def test_a_student_makes_a_new_recovery_code_in_the_sidebar(room):
    token, code = room.join_with_code("Ada")
    at = open_as(token, "pages/leaderboard.py")
    button(at, "Make a new recovery code").click().run()
    assert not at.exception
    fresh = at.sidebar.code[0].value
    assert fresh != code and room.viewer(room.recover(fresh)[0]).name == "Ada"


def test_the_teacher_frees_a_name_and_gives_runs_on_the_teacher_page(room):
    (_, ada), (bo_token, bo) = student(room, "Ada"), student(room, "**Bo**")
    token, me = teacher(room)
    run = owned_run(room, ada, "Ada's run")
    at = open_as(bo_token, "pages/leaderboard.py")
    assert not any(b.label == "Free the name" for b in at.button)   # a student has no such control
    at = open_as(token, "pages/teacher.py")
    assert not at.exception
    picker = at.multiselect(key="teacher_free_pick")
    assert set(picker.options) == {"Ada", "**Bo**"}   # plain text: a picker shows no Markdown
    assert button(at, "Free the names").disabled
    picker.set_value([ada.seat]).run()
    button(at, "Free the names").click().run()
    assert not at.exception
    assert {seat.name for seat in room.seats.all()} == {"**Bo**", "Ms Teacher"}
    assert any("Free again: “Ada”; 1 run(s) went to nobody" in shown(s.value) for s in at.success), at.success
    assert store.load_run(run.id, room.folder.runs_dir).record["tags"].get("owner") is None
    giver = at.selectbox(key="teacher_give_from")
    assert "Ada (name freed)" in giver.options
    giver.set_value(ada.seat)
    at.selectbox(key="teacher_give_to").set_value(bo.seat).run()
    button(at, "Give the runs").click().run()
    assert not at.exception
    assert store.load_run(run.id, room.folder.runs_dir).record["tags"]["owner"] == {"name": "**Bo**", "seat": bo.seat}
    message = next(s.value for s in at.success if "went to" in s.value)
    assert "\\*\\*Bo\\*\\*" in message   # the name as text, not bold
