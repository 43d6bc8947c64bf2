"""Test-wide settings: notebooks run in the smoke profile and write figures and runs to a temporary
folder, so that a test never replaces an exported figure. Built datasets stay in data/cache/."""
import os
import tempfile

_scratch = tempfile.mkdtemp(prefix="workbook-tests-")
os.environ["WORKBOOK_PROFILE"] = "smoke"
os.environ["WORKBOOK_FIGURES"] = os.path.join(_scratch, "figures")
os.environ["WORKBOOK_RUNS"] = os.path.join(_scratch, "runs")
os.environ.setdefault("MPLBACKEND", "Agg")
