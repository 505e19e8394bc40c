import io

import numpy as np
from PIL import Image

from helpers import open_app

CLASS_NAMES = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"}


def _png(size=(120, 80)):
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _predictions(at):
    return [m.value for m in at.markdown if "looks like a" in m.value]


def test_predict_page_renders_with_the_best_run(app_env):
    at = open_app("pages/predict.py")
    assert not at.exception
    assert at.title[0].value == "Predict"
    model = at.selectbox(key="predict_run")
    assert "baseline" in model.format_func(model.value)  # the only completed run is the best one
    assert at.file_uploader[0].accept_multiple_files
    assert not at.camera_input, "the camera must wait for the toggle"
    at.toggle(key="predict_camera").set_value(True).run()
    assert not at.exception and len(at.camera_input) == 1


def test_uploading_a_png_shows_a_prediction(app_env):
    at = open_app("pages/predict.py")
    at.file_uploader[0].set_value(("photo.png", _png(), "image/png")).run()
    assert not at.exception and not at.error
    [text] = _predictions(at)
    assert "photo" in text and any(name in text for name in CLASS_NAMES)
    assert not any("views averaged" in c.value for c in at.caption)

    at.checkbox(key="predict_tta").check().run()   # the same photo, with test-time augmentation
    assert not at.exception and len(_predictions(at)) == 1
    assert any(c.value.startswith("Each image's prediction: 6 views averaged: identity ×0.25, flip ×0.25")
               for c in at.caption)
    assert len(at.image) == 2  # the photo and the 32x32 the model sees
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def test_junk_upload_gives_an_error_and_the_good_image_still_shows(app_env):
    at = open_app("pages/predict.py")
    at.file_uploader[0].set_value([("junk.png", b"this is not a png", "image/png"),
                                   ("**evil**.png", b"", "image/png"),
                                   ("photo.png", _png(), "image/png")]).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 2
    assert "junk" in errors[0] and "not an image" in errors[0]
    assert "\\*\\*evil\\*\\*" in errors[1] and "empty file" in errors[1]  # shown literally
    assert len(_predictions(at)) == 1


def test_camera_photo_is_predicted(app_env):
    at = open_app("pages/predict.py")
    at.toggle(key="predict_camera").set_value(True).run()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 220)).save(buffer, "JPEG")
    at.camera_input[0].set_value(("image.jpg", buffer.getvalue(), "image/jpeg")).run()
    assert not at.exception
    assert any("camera photo" in text for text in _predictions(at))


def test_random_test_images_show_true_and_predicted(app_env):
    at = open_app("pages/predict.py")
    at.button(key="predict_draw").click().run()
    assert not at.exception
    assert len(at.image) == 8
    marks = [m.value for m in at.markdown if ":green[" in m.value or ":red[" in m.value]
    assert len(marks) == 8
    assert any(m.value.endswith("right") for m in at.markdown)
    at.slider(key="predict_k").set_value(5).run()  # the drawn images stay across reruns
    assert not at.exception and len(at.image) == 8


def test_random_test_images_without_dataset_explain(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "missing"))
    at = open_app("pages/predict.py")
    at.button(key="predict_draw").click().run()
    assert not at.exception
    assert any("need CIFAR-10" in w.value for w in at.warning)
    # uploads still work without the dataset
    at.file_uploader[0].set_value(("photo.png", _png(), "image/png")).run()
    assert not at.exception and len(_predictions(at)) == 1


def test_no_model_at_all_points_to_train(app_env, monkeypatch, tmp_path):
    import cifar_tf.runs.store

    empty = tmp_path / "no-runs"
    empty.mkdir()
    monkeypatch.setenv("CIFAR_TF_RUNS_DIR", str(empty))
    monkeypatch.setattr(cifar_tf.runs.store, "DEMO_RUN", "no-such-demo")  # as if the demo were deleted
    at = open_app("pages/predict.py")
    assert not at.exception
    assert "no trained model" in at.warning[0].value
    links = " ".join(str(link.proto) for link in at.get("page_link"))
    assert "train" in links.lower()
    assert not at.file_uploader


def test_broken_model_file_gives_a_message(app_env):
    for run_dir in app_env.iterdir():
        if (run_dir / "model.keras").exists():
            (run_dir / "model.keras").write_bytes(b"not a keras file")
    at = open_app("pages/predict.py")
    assert not at.exception
    assert any("cannot be loaded" in e.value for e in at.error)


def test_grad_cam_on_an_uploaded_photo(app_env):
    import io

    from PIL import Image

    from helpers import open_app

    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 40, 40)).save(buffer, format="PNG")
    at = open_app("pages/predict.py")
    at.file_uploader[0].set_value([("photo.png", buffer.getvalue(), "image/png")]).run()
    at.toggle(key="predict_cam").set_value(True).run()
    assert not at.exception
    assert any("where the model sees a" in str(image.proto) for image in at.get("image"))
    at.selectbox(key="predict_cam_0").set_value("ship").run()
    assert any("where the model sees a ship" in str(image.proto) for image in at.get("image"))
