from helpers import open_app


def test_home_renders_with_runs_and_data(app_env):
    at = open_app()
    assert not at.exception
    assert at.title[0].value == "CIFAR-10 Lab"
    assert any("Found in" in s.value for s in at.success)
    links = " ".join(str(link.proto) for link in at.get("page_link"))
    assert "baseline" in links and "stopped early" in links


def test_home_without_dataset_offers_download(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "missing"))
    at = open_app()
    assert not at.exception
    assert any("not on this machine" in w.value for w in at.warning)
    assert any("Download" in b.label for b in at.button)


def test_run_names_show_as_text_not_markdown(app_env):
    from cifar_tf.runs import store

    run = next(r for r in store.list_runs(app_env)[0] if r.name == "baseline")
    run.update(name="**bold** ![t](http://example.invalid/t.png) $x^2$")
    at = open_app()
    links = [link for link in at.get("page_link") if run.id in str(link.proto.query_string)]
    assert links, "the run is listed"
    label = links[0].proto.label
    assert "\\*\\*bold\\*\\*" in label and "!\\[t\\]" in label and "\\$x^2\\$" in label.replace("\\^", "^")
