"""`make demo` end to end: the zero-shot split of the shipped default beats chance on the shipped clips."""
from __future__ import annotations

import re

from click.testing import CliRunner

from benchmarks.demo import main


def test_demo_splits_and_classifies(minilm, tmp_path):
    result = CliRunner().invoke(main, ["--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "flat" / "bundle.json").is_file()
    assert (tmp_path / "demo" / "hierarchical" / "bundle.json").is_file()
    scores = re.findall(r"MA (flat|hierarchical) (\d+)/(\d+)", result.output)
    assert [mode for mode, _, _ in scores] == ["flat", "hierarchical"]
    for _, right, total in scores:  # three subcategories: chance is 1/3
        assert int(total) == 12 and int(right) / int(total) > 1 / 3
