"""Every notebook executed headlessly with papermill in the smoke profile, through the runner's command line
(``helpers.run.main``, in this process: the ``python -m`` entry point itself is run in test_course_data)."""
import ast
import json
import pathlib

import nbformat
import papermill
import pytest

import fakes
from helpers import run, runtime


def cli(capsys, *args) -> tuple[int, str, str]:
    """``python -m helpers.run *args``: its exit code, standard output and standard error."""
    code = run.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name,parameters", [("gan", ["-p", "tricks", "instance_noise=0.1"]),
                                             ("conditional", ["-p", "guidance", "1.5"]),
                                             ("dann", ["-p", "source", "mnist", "-p", "target", "mnistm",
                                                       "-p", "overrides", "steps=3,n_tsne=20"]),
                                             ("uda", ["-p", "source", "synnum", "-p", "target", "mnist"]),
                                             ("vae", ["-p", "attribute", "Smiling"])])
def test_notebook_runs_in_the_smoke_profile_and_writes_its_record(name, parameters, capsys):
    code, out, err = cli(capsys, name, "--profile", "smoke", "--seed", "1", *parameters)
    assert code == 0, err[-3000:]
    saved = pathlib.Path(out.strip().splitlines()[-1])
    record = json.loads(saved.read_text())
    assert record["notebook"] == name and record["profile"] == "smoke" and record["seed"] == 1
    expected = {"gan": ("fid_dcgan", "fid_wgangp", "fid_sagan", "seconds_train_sagan", "seconds_train_acgan",
                        "acc_acgan", "acc_acgan_class0", "acc_acgan_class1", "acc_judge_test"),
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
    executed = nbformat.read(saved.with_suffix(".ipynb"), as_version=4)
    explorers = [cell for cell in executed.cells if cell.cell_type == "code" and "explore." in cell.source]
    assert explorers and all(any("image/png" in output.get("data", {}) for output in cell.outputs)
                             for cell in explorers)  # headless, each explorer shows the PNG of its default view
    if name in ("gan", "vae"):  # the built-in faces have no attributes: the run says so rather than ignore it
        assert "attribute 'Smiling' does not apply" in saved.with_suffix(".ipynb").read_text()
    if name == "dann":  # overrides change the profile's sizes and go into the file name
        assert "steps_3_n_tsne_20" in saved.name
        assert "'steps': 3, 'batch_size': 32, 'n_eval': 256, 'n_tsne': 20" in saved.with_suffix(".ipynb").read_text()
    if name == "conditional":  # the graded images, named as the assignment asks: 2 per digit in smoke
        for sampler in ("acgan", "ddim", "ddpm"):
            files = sorted(p.name for p in pathlib.Path(record["artifacts"][f"{sampler}_images"]).glob("*.png"))
            assert files == [f"{digit}_{index:03d}.png" for digit in range(10) for index in (1, 2)]


def dcgan(**parameters) -> tuple[pathlib.Path, dict]:
    """The record path and record of a smoke run of DCGAN alone with seed 4 and ``parameters``."""
    path = run.execute("gan", "smoke", 4, progress_bar=False, methods="dcgan", **parameters)
    return path, json.loads(path.read_text())


@pytest.fixture(scope="module")
def first_dcgan() -> tuple[pathlib.Path, dict]:
    return dcgan()


def written(record: dict) -> dict[pathlib.Path, bytes]:
    """DCGAN's exported images and checkpoint, each with its bytes."""
    images, checkpoint = (pathlib.Path(record["artifacts"][f"gan_dcgan_{kind}"]) for kind in ("images", "checkpoint"))
    return {file: file.read_bytes() for file in [*images.glob("*.png"), checkpoint]}


def test_a_gan_run_resumed_from_its_checkpoint_ends_where_it_ended(first_dcgan):
    (_, first), (path, resumed) = first_dcgan, dcgan(resume=True)
    assert resumed["parameters"]["resume"] is True
    assert resumed["artifacts"]["gan_dcgan_checkpoint"] == first["artifacts"]["gan_dcgan_checkpoint"]
    assert resumed["metrics"]["fid_dcgan"] == first["metrics"]["fid_dcgan"]  # nothing left to train: same G
    assert "dcgan: resumed at step 4" in path.with_suffix(".ipynb").read_text()  # the executed notebook


def test_runs_that_differ_only_in_their_data_keep_their_own_images_and_checkpoints(first_dcgan, tmp_path):
    (first, first_record), first_files = first_dcgan, written(first_dcgan[1])
    second, second_record = dcgan(data_root=str(fakes.course_faces(tmp_path)))
    second_files = written(second_record)
    for path, record in ((first, first_record), (second, second_record)):  # folders named by the run
        assert {pathlib.Path(record["artifacts"][f"gan_dcgan_{kind}"]).parent.name
                for kind in ("images", "checkpoint")} == {path.stem}
    assert first != second and len(first_files) == len(second_files) == 101 and not set(first_files) & set(second_files)
    assert all(file.read_bytes() == content for file, content in first_files.items())  # intact after the second run


def test_acgan_alone_learns_the_classes_of_a_course_attribute(tmp_path):
    root = fakes.course_faces(tmp_path, attribute="Smiling")
    path = run.execute("gan", "smoke", 0, progress_bar=False, methods="acgan", attribute="Smiling", data_root=str(root))
    record, executed = json.loads(path.read_text()), path.with_suffix(".ipynb").read_text()
    assert {"acc_acgan", "acc_acgan_class0", "acc_acgan_class1", "acc_judge_test"} <= set(record["metrics"])
    assert "train: 8 Smiling, 8 not Smiling (16 images)" in executed and "attribute 'Smiling' does not" not in executed


def test_run_parameters_are_parsed_as_papermill_does():
    assert [run.parse_value(text) for text in ("3", "0.5", "True", "false", "mnist")] == [3, 0.5, True, False, "mnist"]


def test_an_unknown_profile_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as stopped:
        run.main(["dann", "--profile", "fast"])
    err = capsys.readouterr().err.splitlines()[-1]
    assert stopped.value.code == 2 and "invalid choice: 'fast'" in err and "'smoke', 'cpu', 'gpu'" in err


def test_an_unknown_parameter_is_refused_before_running(monkeypatch):
    monkeypatch.setattr(papermill, "execute_notebook", lambda *args, **kwargs: pytest.fail("a run started"))
    with pytest.raises(SystemExit, match=r"3_dann.ipynb has no parameter \['sourse'\]; its parameters: .*'source'"):
        run.main(["dann", "-p", "sourse", "mnist"])


def test_the_matrix_goes_on_after_a_failure_and_collects_the_tables(monkeypatch, capsys):
    monkeypatch.setattr(run, "default_runs", lambda: [
        ("dann", {"source": "nosuchdomain", "target": "mnist"}),
        ("dann", {"source": "mnistm", "target": "optdigits"}),
    ])
    assert run.matrix("smoke", [0]) == 1
    out, err = capsys.readouterr()
    assert "FAILED" in err and "nosuchdomain" in err and ".ipynb" in err
    assert "[2/2] dann {'source': 'mnistm', 'target': 'optdigits'} seed 0" in err  # what it runs, as it goes
    assert "MNIST-M → OptDigits" in (run.runtime.folder("figures") / "dann_table.md").read_text()


def test_a_run_list_with_a_parameter_its_notebook_lacks_is_refused_before_anything_runs(monkeypatch):
    monkeypatch.setattr(run, "default_runs", lambda: [("dann", {}), ("conditional", {"source": "mnist"})])
    monkeypatch.setattr(run, "execute", lambda *args, **kwargs: pytest.fail("a run started"))
    with pytest.raises(SystemExit, match=r"2_conditional.ipynb has no parameter \['source'\]"):
        run.matrix("smoke", [0])


def test_the_default_matrix_runs_the_three_gans_and_problem_4_on_four_pairs_pixelda_and_self_ensembling_on_one():
    runs = run.default_runs()
    assert [p["methods"] for name, p in runs if name == "gan"] == ["dcgan,wgangp,sagan"]
    uda = [parameters for name, parameters in runs if name == "uda"]
    assert [(p["source"], p["target"]) for p in uda] == [("mnist", "mnistm"), ("synnum", "mnist"),
                                                         ("mnistm", "optdigits"), ("synnum", "mnistm")]
    assert all({"dann", "adda"} <= set(p["methods"].split(",")) for p in uda)
    assert [p["source"] for p in uda if "pixelda" in p["methods"]] == ["mnist"]
    assert [(p["source"], p["target"]) for p in uda if "selfensemble" in p["methods"]] == [("mnist", "mnistm")]
    names = [name for name, _ in runs]
    assert names.index("gan") < names.index("vae")  # the VAE reads the GAN's images


@pytest.mark.parametrize("path", sorted((run.runtime.ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_papermill_sees_every_name_the_parameters_cell_assigns(path):
    """papermill skips, with only a warning, a line it cannot parse (an '=' in a comment, say)."""
    cell, = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
    assigned = {target.id for node in ast.parse(cell.source).body for target in node.targets}
    assert set(papermill.inspect_notebook(str(path))) == assigned
