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
