"""The suite's per-test timeout (pytest-timeout, [tool.pytest.ini_options] in pyproject.toml):
a hanging test fails, named, and the run goes on with the next test."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
OPTIONS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]


def test_the_suite_has_a_generous_default():
    assert 120 <= int(OPTIONS["timeout"]) <= 900


def test_a_hang_fails_named_and_the_run_goes_on(pytester):
    # the project's method, a 1 s limit instead of the project's
    pytester.makeini(f"[pytest]\ntimeout = 1\ntimeout_method = {OPTIONS['timeout_method']}\n")
    pytester.makepyfile(test_sample="""
        import threading

        def test_hangs():
            threading.Event().wait()          # forever

        def test_after():
            pass
    """)
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*Timeout*1*", "FAILED test_sample.py::test_hangs*"])
