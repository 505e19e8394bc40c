from helpers import open_app

GRID = 32  # 8 columns x 4 rows
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]


def _grid(at):
    """The captions (class names) of the sample grid: the images above the augmentation's original."""
    captions = []
    for image in at.image:
        if any(caption.startswith("original:") for caption in image.captions):
            break
        captions += image.captions
    return captions


def test_data_page_shows_grid_counts_and_augmentations(app_env):
    at = open_app("pages/data.py")
    assert not at.exception
    assert at.title[0].value == "Data"
    grid = _grid(at)
    assert len(grid) == GRID
    assert set(grid) <= set(CLASS_NAMES)
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert at.dataframe, "the class-count table is missing"
    assert not at.error
    # original + 16 augmented copies, all without captions but the original
    assert any(caption.startswith("original:") for image in at.image for caption in image.captions)
    assert len(at.image) == GRID + 1 + 16


def test_reshuffle_changes_the_images(app_env):
    at = open_app("pages/data.py")
    before = [image.value for image in at.image[:GRID]]
    next(b for b in at.button if b.label == "Reshuffle").click().run()
    assert not at.exception
    assert len(_grid(at)) == GRID
    assert [image.value for image in at.image[:GRID]] != before


def test_class_filter_restricts_labels(app_env):
    at = open_app("pages/data.py")
    at.multiselect(key="data_classes").set_value(["cat", "ship"]).run()
    assert not at.exception
    grid = _grid(at)
    # the synthetic test set has 10 images per class
    assert len(grid) == 20
    assert {caption for caption in grid} == {"cat", "ship"}


def test_bad_augmentation_spec_shows_an_error_and_the_rest_stays(app_env):
    at = open_app("pages/data.py")
    at.selectbox(key="data_aug_preset").set_value("custom").run()
    assert not at.exception and not at.error
    at.text_input(key="data_aug_spec").input("flip,crop=banana").run()
    assert not at.exception
    assert len(at.error) == 1 and "crop" in at.error[0].value
    assert len(_grid(at)) == GRID
    assert len(at.image) == GRID + 1  # the original still shows, no previews
    at.text_input(key="data_aug_spec").input("wobble").run()
    assert not at.exception and "preset" in at.error[0].value


def test_random_image_and_redraw(app_env):
    at = open_app("pages/data.py")
    previews = [image.value for image in at.image[-16:]]
    next(b for b in at.button if b.label == "Redraw").click().run()
    assert not at.exception
    assert [image.value for image in at.image[-16:]] != previews
    next(b for b in at.button if b.label == "Random").click().run()
    assert not at.exception and 0 <= at.number_input(key="data_aug_index").value < 100


def test_data_page_without_dataset_explains_and_does_not_break(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "missing"))
    at = open_app("pages/data.py")
    assert not at.exception
    assert any("not on this machine" in w.value for w in at.warning)
    assert any("CIFAR10_DIR" in c.value for c in at.caption)
    links = " ".join(str(link.proto) for link in at.get("page_link"))
    assert "home" in links.lower()
    assert not at.image
