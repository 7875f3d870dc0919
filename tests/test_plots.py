"""The figures: drawn from the numbers given, valid SVG, written atomically, the same numbers the same file."""

import xml.etree.ElementTree as ET

from anchormix.plots import calibration_svg

COVERAGE = {"perturb": {"vocals": (0.81, 40), "pad": (0.65, 20), "all": (0.79, 60)},
            "flat": {"vocals": (0.75, 8), "all": (0.77, 8)}}


def test_the_calibration_figure_shows_each_share_with_its_count(tmp_path):
    path = calibration_svg(COVERAGE, tmp_path / "calibration.svg", "test split")
    text = path.read_text()
    ET.fromstring(text)  # well-formed SVG
    for label in ("81 % (n=40)", "65 % (n=20)", "79 % (n=60)", "75 % (n=8)", "honest: 70-90 %", "test split"):
        assert label in text, label
    assert not list(tmp_path.glob(".*"))  # no temporary file left beside it


def test_the_same_numbers_draw_the_same_file(tmp_path):
    first = calibration_svg(COVERAGE, tmp_path / "a.svg", "t").read_bytes()
    assert calibration_svg(COVERAGE, tmp_path / "b.svg", "t").read_bytes() == first
