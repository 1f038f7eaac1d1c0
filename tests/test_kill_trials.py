"""Issue 10 items 3 and 6: compile, edits undo and quantize killed with SIGKILL leave the old bundle or the
new complete one, an intact input, and nothing the next run on the same output does not clean
(tests/kill_trials.py; `python -m tests.kill_trials --trials N` runs more, and every crash point of every
scenario)."""
import pytest

from tests.kill_trials import run_crash_points, run_trials


@pytest.mark.slow
def test_sigkill_at_random_points(tmp_path):
    summary = run_trials(tmp_path, trials=3, seed=1, log=lambda _: None)
    failed = [r for r in summary["results"] if r["problems"]]
    assert not failed, failed
    assert summary["trials"] == 15 == summary["passed"] and summary["unkilled_passed"]


@pytest.mark.slow
def test_sigkill_at_every_step_that_changes_the_disk(tmp_path):
    """Deterministic: in-place compile and in-place undo (the input is the output) killed at each step."""
    from tests.kill_trials import templates

    templates(tmp_path)
    for scenario in run_crash_points(tmp_path, ("compile in place", "undo in place")):
        failed = [r for r in scenario["results"] if r["problems"]]
        assert not failed, failed
        assert scenario["points"] >= 20 and scenario["passed"] == scenario["points"]
