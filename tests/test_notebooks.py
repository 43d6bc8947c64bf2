"""Every notebook executed headlessly with papermill in the smoke profile, through the runner's CLI."""
import json
import subprocess
import sys

import pytest

from helpers import run


def cli(*args):
    return subprocess.run([sys.executable, "-m", "helpers.run", *args], capture_output=True, text=True,
                          cwd=run.runtime.ROOT)


@pytest.mark.parametrize("name,parameters", [("gan", []), ("dann", ["-p", "source", "mnist", "-p", "target", "mnistm"])])
def test_notebook_runs_in_the_smoke_profile_and_writes_its_record(name, parameters):
    done = cli(name, "--profile", "smoke", "--seed", "1", *parameters)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(open(done.stdout.strip().splitlines()[-1]).read())
    assert record["notebook"] == name and record["profile"] == "smoke" and record["seed"] == 1
    expected = {"gan": ("fid_dcgan", "fid_wgangp", "fid_sagan", "seconds_train_sagan"),
                "dann": ("acc_source_only", "acc_dann", "acc_target_only")}[name]
    assert set(expected) <= set(record["metrics"])
    for path in record["artifacts"].values():
        assert open(path, "rb").read(4)  # every artifact was written


def test_a_failed_run_exits_non_zero_and_names_its_executed_notebook():
    done = cli("dann", "--profile", "smoke", "-p", "source", "nosuchdomain")
    assert done.returncode != 0
    assert "FAILED" in done.stderr and ".ipynb" in done.stderr


def test_an_unknown_parameter_is_refused_before_running():
    done = cli("dann", "-p", "sourse", "mnist")
    assert done.returncode != 0 and "sourse" in done.stderr and "source" in done.stderr
