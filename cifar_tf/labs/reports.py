"""The five reports the lab grew from (../shared/seeds), as a library: each one's question, setup and
figures in a short summary, in our words and with its numbers.

A `Figure` is one number a report gives, with where it comes from and how our run measures the same
thing (`metric`), so that `report_lessons.side_by_side` can put it beside ours. The experiments
each report ran, as lessons a user starts in one click, are in `report_lessons`.

    REPORTS["002"].figures[0].value   # 0.9191, its best test accuracy
"""
from dataclasses import dataclass, field

from ..validation import check_choice

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class Figure:
    """One number of a report. `metric` says how ours is read: `test_accuracy`, `weighted_f1`,
    `val_accuracy@N` (validation accuracy after epoch N), `class:NAME` (a class's test accuracy),
    `gd_value` (the minimum gradient descent finds)."""
    label: str
    value: float
    lesson: str          # the lesson whose runs measure it
    arm: str             # which of the lesson's runs
    metric: str
    source: str          # where in the report
    note: str = ""       # why ours may differ, beyond the lesson's own reasons
    percent: bool = True


@dataclass(frozen=True)
class Report:
    id: str
    title: str
    file: str            # the report's file in ../shared/seeds
    question: str
    setup: tuple
    findings: str
    figures: tuple = ()
    caveats: tuple = ()  # why any figure of ours may differ from its
    extra: dict = field(default_factory=dict)   # report-specific notes (003's definitions)


def _class_figures(values, *, lesson, arm, source, note):
    return tuple(Figure(f"{name}: accuracy on the class", value, lesson, arm, f"class:{name}", source, note)
                 for name, value in zip(CLASSES, values))


REPORT_000 = Report(
    id="000", title="DenseNet121 transfer learning against SAM", file="000_8d2c3f785f41b021.txt",
    question="Does fine-tuning a DenseNet121 pretrained on ImageNet beat training with Sharpness-Aware "
             "Minimization (SAM, Foret et al. 2020) on CIFAR-10?",
    setup=("DenseNet121 with ImageNet weights, trained on CIFAR-10 for 10 epochs.",
           "Compared with a model trained with SAM, the method that minimises the loss and its sharpness "
           "together.",
           "The report gives no optimizer, learning rate, batch size, image size, data split or network for "
           "its SAM model: our lesson's values for them are guesses (the presets say which)."),
    findings="Transfer learning ahead at both checkpoints: 53 % against SAM's 52 % after epoch 3, 70 % "
             "against 63 % after epoch 10.",
    figures=(
        Figure("DenseNet121 transfer: accuracy after epoch 3", 0.53, "000-transfer-vs-sam", "transfer",
               "val_accuracy@3", "table “Experiment Results Updated to Epoch 10”"),
        Figure("DenseNet121 transfer: accuracy after epoch 10", 0.70, "000-transfer-vs-sam", "transfer",
               "val_accuracy@10", "table “Experiment Results Updated to Epoch 10”"),
        Figure("With SAM: accuracy after epoch 3", 0.52, "000-transfer-vs-sam", "sam",
               "val_accuracy@3", "table “Experiment Results Updated to Epoch 10”",
               "the report's SAM model is not named; ours is the same DenseNet121 with SAM"),
        Figure("With SAM: accuracy after epoch 10", 0.63, "000-transfer-vs-sam", "sam",
               "val_accuracy@10", "table “Experiment Results Updated to Epoch 10”",
               "the report's SAM model is not named; ours is the same DenseNet121 with SAM"),
    ),
    caveats=("the report does not say which images its accuracies were measured on: ours are on our "
             "validation split",),
)

REPORT_001 = Report(
    id="001", title="A BatchNorm CNN, augmentation, a learning-rate drop and a Hyperband search",
    file="001_d73dc2e661954ea4.txt",
    question="How far does a small Keras CNN with BatchNorm get on CIFAR-10, and what do augmentation, a "
             "learning-rate schedule, dropout and a Keras Tuner search add?",
    setup=("Its code's network: three 3x3 convs (32, 64, 64 filters, valid padding) each with BatchNorm and "
           "ReLU, max-pools after the first two, Dense 64 with BatchNorm, softmax: 123,466 parameters (its "
           "text describes two convs and Dense 128).",
           "ImageDataGenerator: rotation 15 degrees, shifts of 10 %, shear 0.2, zoom 0.2, horizontal flips.",
           "Adam at 1e-3, dropped tenfold after epoch 10: its log shows learning_rate 1e-4 at epochs 23 to 30.",
           "30 epochs of 1,563 steps, so batches of 32, validated on the test set.",
           "Then a Hyperband search (Keras Tuner) over a two-conv hypermodel: filters 32-64 and 64-128, Dense "
           "64-128, learning rate 1e-4 to 1e-3, Adam or SGD with momentum 0.9; two iterations of at most 10 "
           "epochs, early stopping with patience 3 on validation accuracy, the test set as validation set."),
    findings="Test accuracy 0.8015 and weighted F1 0.7978 after the 30 epochs; cats and dogs are the classes "
             "it confuses most. The search's results are given only as curves.",
    figures=(
        Figure("Test accuracy after 30 epochs", 0.8015, "001-cnn", "cnn", "test_accuracy",
               "“Test accuracy: 0.8015” (section 4.2)"),
        Figure("Weighted F1 on the test set", 0.7978, "001-cnn", "cnn", "weighted_f1",
               "“Test F1 Score: 0.7978” (section 4.2)"),
        *_class_figures((0.813, 0.937, 0.597, 0.535, 0.702, 0.702, 0.919, 0.825, 0.824, 0.894),
                        lesson="001-cnn", arm="cnn", source="the confusion matrix of section 5 (1.4)",
                        note="that matrix comes from another run of the report (its diagonal sums to 77.5 %)"),
    ),
    caveats=("the report validated on the test set (its epochs' val_accuracy is test accuracy); we hold 5,000 "
             "training images out instead, so we train on 45,000",),
)

REPORT_002 = Report(
    id="002", title="A ResNet-style network found by random search", file="002_f8dd973a7b90fc88.txt",
    question="How accurate is a ResNet-style network whose hyperparameters a random search picked?",
    setup=("A ResNet-style network with skip connections, L2 and dropout, in TensorFlow 2.12.",
           "Random search over the learning rate (log-uniform 1e-4 to 5e-4), batch 128 or 256, depth 3-5, "
           "units 512, 768 or 1024, Adam or AdamW, L2, dropout, cosine or exponential decay.",
           "Augmentation: rotation, shifts, flips and zoom (no values given).",
           "The best: batch 128, dropout 0.3, 40 epochs, L2 5e-4, learning rate 2.92e-4 with exponential "
           "decay, 4 layers, Adam, 1024 units."),
    findings="Best test accuracy 91.91 %; its weakest classes are dog (recall 0.81), bird and cat (0.87).",
    figures=(
        Figure("Test accuracy of the best model", 0.9191, "002-best", "resnet", "test_accuracy",
               "“Test Accuracy: 0.9191”"),
        *_class_figures((0.95, 0.98, 0.87, 0.87, 0.92, 0.81, 0.97, 0.95, 0.93, 0.94), lesson="002-best",
                        arm="resnet", source="the recall column of its classification report", note=""),
    ),
    caveats=("the report picked its best model by test accuracy, which flatters it; we pick by validation "
             "accuracy", "the block layout, decay and augmentation ranges are our guesses"),
)

REPORT_003 = Report(
    id="003", title="Sharpness of minima with and without SAM", file="003_2c5d01440148968a.txt",
    question="Does SAM lead adaptive optimizers such as Adam to flatter minima, and do flatter minima "
             "generalise better?",
    setup=("ResNet18 and VGG16, each trained with SGD and with Adam, each without and with SAM: eight runs, "
           "in PyTorch.",
           "The sharpness of each minimum is compared."),
    findings="The report gives its results as pictures only: there is no number to set beside ours.",
    caveats=("the report gives no epochs, learning rates or SAM radius: ours are guesses",),
    extra={"their_sharpness": "The difference between the maximum training loss and the generalization loss "
                              "at the same point of the x-axis (read off a picture of the two loss curves).",
           "our_sharpness": "How much the training loss can rise within an L2 ball of radius rho (0.05) around "
                            "the weights, found by projected gradient ascent (SAM's inner maximisation), on fixed "
                            "training images; with the largest Hessian eigenvalue beside it (Sharpness page, or "
                            "`python -m cifar_tf sharpness RUN`).",
           "nearest_reading": "The nearest number to the report's reading: the validation loss minus the "
                              "training loss after the last epoch (the generalization gap in loss).",
           "how_they_differ": "The report's reading compares two loss curves over training, on training and "
                              "held-out images, so it mixes how flat the minimum is with how far the training and "
                              "validation losses drift apart; ours looks only at the final weights and only at "
                              "training images, asking how far the loss climbs when the weights move a little. A "
                              "run can have a large gap and a flat minimum, or the reverse: the two numbers answer "
                              "different questions, and only their order across the eight runs can be compared."},
)

REPORT_004 = Report(
    id="004", title="Gradient descent by hand; VGG19, ResNet-50, DenseNet-121 and a concatenating CNN",
    file="004_989cb08ccbbbd3ff.txt",
    question="Part 1: where does gradient descent take f(x, y) = x² + y² + x(y + 2) + cos(3x)? Part 2: how do "
             "VGG19, ResNet-50, DenseNet-121 and a custom CNN compare on an image set?",
    setup=("Gradient descent (its start and rate not given) ends at x = -1.0882, y = 0.5440; ours starts at "
           "(0, 0) with rate 0.01 for 1,000 steps.",
           "VGG19 built from Keras' vgg19.py and trained from scratch; ResNet-50 and DenseNet-121 from "
           "keras.applications without their top or ImageNet weights, with dense layers of its own, at 32x32x3.",
           "Its own CNN: blocks of conv pairs whose outputs are concatenated, average pooling and BatchNorm, "
           "max-pooling first and last, two Dense layers each with dropout.",
           "Batch 32 (1,265 steps an epoch), 5 epochs (10 for its CNN) with early stopping, patience 3, best "
           "weights restored (the restored epochs are those of the lowest validation loss).",
           "Its data: 50,576 images in 10 classes resized to 32 px, not CIFAR-10's 60,000; the classification "
           "reports count all 50,576, so the 80 % it trained on is in them."),
    findings="f = -2.2807 at the minimum. VGG19 scores 99 %, DenseNet-121 and its CNN 98 %, ResNet-50 95 %.",
    figures=(
        Figure("Part 1: f at the minimum gradient descent finds", -2.2807097055009007, "004-gradient-descent",
               "gd", "gd_value", "“functions_value: -2.2807097055009007”", percent=False),
        Figure("VGG19: accuracy", 0.99, "004-four-networks", "vgg19", "test_accuracy",
               "its classification report for VGG-19"),
        Figure("ResNet-50: accuracy", 0.95, "004-four-networks", "resnet50", "test_accuracy",
               "its classification report for ResNet-50"),
        Figure("DenseNet-121: accuracy", 0.98, "004-four-networks", "densenet121", "test_accuracy",
               "its classification report for DenseNet-121"),
        Figure("Its concatenating CNN: accuracy", 0.98, "004-four-networks", "concat", "test_accuracy",
               "its classification report for “My model”",
               "its layer sizes are in a figure the text does not hold: ours follow its description"),
    ),
    caveats=("its 95-99 % came from another data set of 50,576 images resized to 32 px, scored on all of them "
             "(training images included), not from CIFAR-10's test set",
             "its early stopping watched the validation loss; ours watches validation accuracy"),
)

REPORTS = {report.id: report for report in (REPORT_000, REPORT_001, REPORT_002, REPORT_003, REPORT_004)}


def get_report(report_id):
    """The report `report_id` ("000" ... "004"; "4" and "seed004" also do)."""
    text = str(report_id or "").strip().lower().removeprefix("seed").removeprefix("report")
    text = text.zfill(3) if text.isdigit() else text
    return REPORTS[check_choice("report", text, tuple(REPORTS))]


def summary_dict(report):
    """A report as plain data (the CLI's --json)."""
    return {"id": report.id, "title": report.title, "file": report.file, "question": report.question,
            "setup": list(report.setup), "findings": report.findings, "caveats": list(report.caveats),
            "figures": [{"label": f.label, "value": f.value, "lesson": f.lesson, "arm": f.arm, "metric": f.metric,
                         "source": f.source, "note": f.note} for f in report.figures],
            **({"sharpness": dict(report.extra)} if report.extra else {})}
