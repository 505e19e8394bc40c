"""The library as a package (pyproject.toml): the wheel `pip install .` installs holds every module
and data file of cifar_tf/, the `cifar-tf` command and requirements.txt's dependencies. And the
pins that keep it working: Streamlit's series, which pages/common.py's hooks were written for."""
import ast
import configparser
import email
import json
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version

from packaging.requirements import Requirement

import cifar_tf
from helpers import ROOT


def requirements(name):
    lines = (line.split("#", 1)[0].strip() for line in (ROOT / name).read_text(encoding="utf-8").splitlines())
    return [Requirement(line) for line in lines if line]


def package_files(folder):
    """Every file of the package under `folder`, relative to it, as the wheel names them."""
    return {path.relative_to(folder).as_posix() for path in (folder / "cifar_tf").rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
            and not path.name.startswith(".")}


def test_the_wheel_holds_the_library_its_data_its_command_and_its_dependencies(tmp_path):
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources, and the
    # checkout may be changing while this runs.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt", "requirements-test.txt", "requirements-ray.txt"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "cifar_tf", source / "cifar_tf", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    str(source), "-w", str(tmp_path / "dist")], check=True, timeout=120)
    [wheel] = (tmp_path / "dist").glob("cifar_tf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    info = f"cifar_tf-{cifar_tf.__version__}.dist-info"

    shipped = {name for name in names if not name.startswith(info + "/")}
    assert shipped == package_files(source)   # every module and data file (templates...), nothing else
    assert "cifar_tf/views/templates/report.html" in shipped and "cifar_tf/cli/__init__.py" in shipped
    assert not any(name.startswith(("tests/", "pages/", "models/", "app.py")) for name in names)

    with zipfile.ZipFile(wheel) as archive:
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(f"{info}/entry_points.txt").decode())
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
    assert dict(entry_points["console_scripts"]) == {"cifar-tf": "cifar_tf.cli:main"}
    from cifar_tf.cli import main
    assert callable(main)
    assert metadata["Name"] == "cifar-tf" and metadata["Version"] == cifar_tf.__version__
    assert metadata["Requires-Python"] == ">=3.11"
    needs = [Requirement(line) for line in metadata.get_all("Requires-Dist")]
    assert [str(r) for r in needs if not r.marker] == [str(r) for r in requirements("requirements.txt")]
    ray = {f"{r.name}{r.specifier}" for r in needs if r.marker and r.marker.evaluate({"extra": "ray"})}
    assert ray == {f"{r.name}{r.specifier}" for r in requirements("requirements-ray.txt")}   # pip install .[ray]


def streamlit_series():
    """pages/common.py's STREAMLIT_SERIES, read without importing the page module."""
    tree = ast.parse((ROOT / "pages" / "common.py").read_text(encoding="utf-8"))
    [value] = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
               and any(getattr(t, "id", None) == "STREAMLIT_SERIES" for t in node.targets)]
    return value


def test_streamlit_is_pinned_to_the_series_the_hooks_were_written_for():
    series = streamlit_series()
    major, minor = (int(part) for part in series.split("."))
    [streamlit] = [r for r in requirements("requirements.txt") if r.name == "streamlit"]
    assert streamlit.specifier == Requirement(f"streamlit>={series},<{major}.{minor + 1}").specifier
    assert ".".join(version("streamlit").split(".")[:2]) == series   # what these tests run on


def test_the_hooks_say_so_on_another_streamlit():
    code = """if True:
        import json, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import pages.common as common          # the pinned Streamlit: no warning
            import streamlit
            streamlit.__version__ = "1.99.0"
            common.run_through_app()
            common.keep_keras_state()
        print(json.dumps([str(w.message) for w in caught if "STREAMLIT_SERIES" in str(w.message)]))
    """
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=True)
    messages = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(messages) == 2 and all("Streamlit 1.99.0" in m for m in messages)
    assert "run_through_app" in messages[0] and "keep_keras_state" in messages[1]
