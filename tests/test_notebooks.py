"""Every notebook executed headlessly with papermill in the smoke profile, through the runner's CLI."""
import ast
import json
import pathlib
import subprocess
import sys

import nbformat
import papermill
import pytest

import fakes
from helpers import run, runtime


def cli(*args):
    return subprocess.run([sys.executable, "-m", "helpers.run", *args], capture_output=True, text=True,
                          cwd=run.runtime.ROOT)


@pytest.mark.parametrize("name,parameters", [("gan", ["-p", "tricks", "instance_noise=0.1"]),
                                             ("conditional", ["-p", "guidance", "1.5"]),
                                             ("dann", ["-p", "source", "mnist", "-p", "target", "mnistm"]),
                                             ("uda", ["-p", "source", "synnum", "-p", "target", "mnist"]),
                                             ("vae", ["-p", "attribute", "Smiling"])])
def test_notebook_runs_in_the_smoke_profile_and_writes_its_record(name, parameters):
    done = cli(name, "--profile", "smoke", "--seed", "1", *parameters)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(open(done.stdout.strip().splitlines()[-1]).read())
    assert record["notebook"] == name and record["profile"] == "smoke" and record["seed"] == 1
    expected = {"gan": ("fid_dcgan", "fid_wgangp", "fid_sagan", "seconds_train_sagan"),
                "conditional": ("acc_evaluator", "acc_acgan", "acc_ddim", "acc_ddpm", "seconds_train_acgan",
                                "seconds_train_diffusion", "seconds_sample_ddim", "seconds_sample_ddpm"),
                "dann": ("acc_source_only", "acc_dann", "acc_target_only"),
                "uda": ("acc_source_only", "acc_target_only", "acc_dann", "acc_adda", "acc_pixelda", "acc_selfensemble",
                        "seconds_train_dann", "seconds_train_adda", "seconds_train_pixelda",
                        "seconds_train_selfensemble", "seconds_train_source_only", "seconds_train_target_only"),
                "vae": ("mse_test", "kld_test", "identified_test", "seconds_train", "fid_vae")}[name]
    assert set(expected) <= set(record["metrics"])
    expected_precision = runtime.settings("smoke", "dann")["precision"]
    assert record["precision"] == runtime.precision(expected_precision, runtime.device()).name  # the one that ran
    assert all(record["parameters"][key] == run.parse_value(value)
               for key, value in zip(parameters[1::3], parameters[2::3]))
    for artifact, path in record["artifacts"].items():  # every artifact was written: a file, or a folder of PNGs
        path = pathlib.Path(path)
        assert (any(path.glob("*.png")) if path.is_dir() else path.stat().st_size > 0), artifact
    executed = nbformat.read(pathlib.Path(done.stdout.strip().splitlines()[-1]).with_suffix(".ipynb"), as_version=4)
    explorers = [cell for cell in executed.cells if cell.cell_type == "code" and "explore." in cell.source]
    assert explorers and all(any("image/png" in output.get("data", {}) for output in cell.outputs)
                             for cell in explorers)  # headless, each explorer shows the PNG of its default view
    if name == "vae":  # the built-in faces have no attributes: the run says so rather than ignore it
        executed = pathlib.Path(done.stdout.strip().splitlines()[-1]).with_suffix(".ipynb").read_text()
        assert "attribute 'Smiling' does not apply" in executed
    if name == "conditional":  # the graded images, named as the assignment asks: 2 per digit in smoke
        for sampler in ("acgan", "ddim", "ddpm"):
            files = sorted(p.name for p in pathlib.Path(record["artifacts"][f"{sampler}_images"]).glob("*.png"))
            assert files == [f"{digit}_{index:03d}.png" for digit in range(10) for index in (1, 2)]


def recorded(*args):
    """The path and content of the record of a run of the CLI with ``args``, which must succeed."""
    done = cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    path = pathlib.Path(done.stdout.strip().splitlines()[-1])
    return path, json.loads(path.read_text())


def test_a_gan_run_resumed_from_its_checkpoint_ends_where_it_ended():
    (_, first), (path, resumed) = (recorded("gan", "--profile", "smoke", "--seed", "2", "-p", "methods", "dcgan", *more)
                                   for more in ([], ["-p", "resume", "True"]))
    assert resumed["parameters"]["resume"] is True
    assert resumed["artifacts"]["gan_dcgan_checkpoint"] == first["artifacts"]["gan_dcgan_checkpoint"]
    assert resumed["metrics"]["fid_dcgan"] == first["metrics"]["fid_dcgan"]  # nothing left to train: same G
    assert "dcgan: resumed at step 4" in path.with_suffix(".ipynb").read_text()  # the executed notebook


def test_runs_that_differ_only_in_their_data_keep_their_own_images_and_checkpoints(tmp_path):
    written = {}  # record path -> {file: its bytes just after its run}
    for data in ([], ["-p", "data_root", str(fakes.course_faces(tmp_path))]):
        path, record = recorded("gan", "--profile", "smoke", "--seed", "4", "-p", "methods", "dcgan", *data)
        images, checkpoint = (pathlib.Path(record["artifacts"][f"gan_dcgan_{kind}"])
                              for kind in ("images", "checkpoint"))
        assert images.parent.name == checkpoint.parent.name == path.stem  # folders named by the run
        written[path] = {file: file.read_bytes() for file in [*images.glob("*.png"), checkpoint]}
    (first, first_files), (second, second_files) = written.items()
    assert first != second and len(first_files) == len(second_files) == 101 and not set(first_files) & set(second_files)
    assert all(file.read_bytes() == content for file, content in first_files.items())  # intact after the second run


def test_run_parameters_are_parsed_as_papermill_does():
    assert [run.parse_value(text) for text in ("3", "0.5", "True", "false", "mnist")] == [3, 0.5, True, False, "mnist"]


def test_a_failed_run_exits_non_zero_and_names_its_executed_notebook():
    done = cli("dann", "--profile", "smoke", "-p", "source", "nosuchdomain")
    assert done.returncode != 0
    assert "FAILED" in done.stderr and ".ipynb" in done.stderr


def test_overrides_change_the_profiles_sizes_and_go_into_the_record_and_the_file_name():
    done = cli("dann", "--profile", "smoke", "-p", "overrides", "steps=3,n_tsne=20")
    assert done.returncode == 0, done.stderr[-3000:]
    path = pathlib.Path(done.stdout.strip().splitlines()[-1])
    assert "steps_3_n_tsne_20" in path.name
    assert json.loads(path.read_text())["parameters"]["overrides"] == "steps=3,n_tsne=20"
    assert "'steps': 3, 'batch_size': 32, 'n_eval': 256, 'n_tsne': 20" in path.with_suffix(".ipynb").read_text()
    refused = cli("dann", "--profile", "smoke", "-p", "overrides", "stepz=3")
    assert refused.returncode != 0 and "unknown setting 'stepz' for 'dann'" in refused.stderr


def test_an_unknown_profile_is_refused_in_one_line():
    done = cli("dann", "--profile", "fast")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "invalid choice: 'fast'" in done.stderr and "'smoke', 'cpu', 'gpu'" in done.stderr


def test_an_unknown_parameter_is_refused_before_running():
    done = cli("dann", "-p", "sourse", "mnist")
    assert done.returncode != 0 and "sourse" in done.stderr and "source" in done.stderr


def test_the_matrix_goes_on_after_a_failure_and_collects_the_tables(monkeypatch, capsys):
    monkeypatch.setattr(run, "default_runs", lambda: [
        ("dann", {"source": "nosuchdomain", "target": "mnist"}),
        ("dann", {"source": "mnistm", "target": "optdigits"}),
        ("gan", {"methods": "dcgan"}),
    ])
    assert run.matrix("smoke", [0]) == 1
    out, err = capsys.readouterr()
    assert "FAILED" in err and "nosuchdomain" in err and ".ipynb" in err
    assert "[2/3] dann {'source': 'mnistm', 'target': 'optdigits'} seed 0" in err  # what it runs, as it goes
    figures = run.runtime.folder("figures")
    assert "MNIST-M → OptDigits" in (figures / "dann_table.md").read_text()
    assert "DCGAN" in (figures / "gan_table.md").read_text()


def test_a_run_list_with_a_parameter_its_notebook_lacks_is_refused_before_anything_runs(monkeypatch):
    monkeypatch.setattr(run, "default_runs", lambda: [("dann", {}), ("conditional", {"source": "mnist"})])
    monkeypatch.setattr(run, "execute", lambda *args, **kwargs: pytest.fail("a run started"))
    with pytest.raises(SystemExit, match=r"2_conditional.ipynb has no parameter \['source'\]"):
        run.matrix("smoke", [0])


def test_the_default_matrix_runs_problem_4_on_four_pairs_and_pixelda_on_one():
    uda = [parameters for name, parameters in run.default_runs() if name == "uda"]
    assert [(p["source"], p["target"]) for p in uda] == [("mnist", "mnistm"), ("synnum", "mnist"),
                                                         ("mnistm", "optdigits"), ("synnum", "mnistm")]
    assert all({"dann", "adda", "selfensemble"} <= set(p["methods"].split(",")) for p in uda)
    assert [p["source"] for p in uda if "pixelda" in p["methods"]] == ["mnist"]


@pytest.mark.parametrize("path", sorted((run.runtime.ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_papermill_sees_every_name_the_parameters_cell_assigns(path):
    """papermill skips, with only a warning, a line it cannot parse (an '=' in a comment, say)."""
    cell, = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
    assigned = {target.id for node in ast.parse(cell.source).body for target in node.targets}
    assert set(papermill.inspect_notebook(str(path))) == assigned
