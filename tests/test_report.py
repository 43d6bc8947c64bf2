import json

import pytest
import torch

from helpers import report


def record(source, target, seed, accs):
    keys = ("source_only", "dann", "target_only")
    return {"notebook": "dann", "parameters": {"source": source, "target": target, "seed": seed},
            "metrics": {f"acc_{k}": a for k, a in zip(keys, accs)}}


def test_dann_table_has_the_assignments_rows_and_one_column_per_pair():
    table = report.dann_table([record("mnist", "mnistm", 0, (0.5, 0.75, 0.96)),
                               record("synnum", "mnist", 0, (0.7, 0.8, 0.99))])
    assert list(table.index) == ["Trained on source", "Adaptation (DANN)", "Trained on target"]
    assert list(table.columns) == ["MNIST → MNIST-M", "SynNumbers → MNIST"]
    assert table.loc["Adaptation (DANN)", "MNIST → MNIST-M"] == "0.7500"


def test_dann_table_gives_mean_and_spread_over_seeds():
    table = report.dann_table([record("mnist", "mnistm", s, (a, 0.7, 0.9)) for s, a in enumerate((0.5, 0.6, 0.7))])
    assert table.loc["Trained on source", "MNIST → MNIST-M"] == "0.6000 ± 0.1000 (3)"


def test_dann_table_keeps_recipes_apart():
    records = [record("mnist", "mnistm", 0, (0.5, 0.75, 0.96)), record("mnist", "mnistm", 0, (0.6, 0.95, 0.97))]
    records[0]["parameters"]["recipe"], records[1]["parameters"]["recipe"] = "paper", "bn-adam"
    table = report.dann_table(records)
    assert list(table.columns) == ["MNIST → MNIST-M (paper)", "MNIST → MNIST-M (bn-adam)"]
    assert table.loc["Adaptation (DANN)", "MNIST → MNIST-M (bn-adam)"] == "0.9500"


def test_uda_table_has_a_row_per_method_and_says_what_was_not_run():
    runs = [record("mnist", "mnistm", seed, (0.5, 0.9, 0.97)) for seed in (0, 1)]
    for run, adda in zip(runs, (0.6, 0.7)):
        run["metrics"]["acc_adda"] = adda
    table = report.uda_table(runs)
    assert list(table.index) == ["Trained on source", "DANN", "ADDA", "PixelDA", "Self-ensembling", "Trained on target"]
    assert table.loc["ADDA", "MNIST → MNIST-M"] == "0.6500 ± 0.0707 (2)"
    assert table.loc["PixelDA", "MNIST → MNIST-M"] == "not run"


def test_run_record_holds_what_the_contract_names(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_RECORD", str(tmp_path / "r.json"))
    run = report.Run("dann", source="mnist", target="mnistm", profile="smoke", seed=3)
    with run.timer("train_dann"):
        run.metric("acc_dann", 0.5)
    saved = json.loads(run.save().read_text())
    assert {"notebook", "parameters", "profile", "seed", "commit", "versions", "seconds", "metrics",
            "artifacts"} <= set(saved)
    assert saved["seed"] == 3 and saved["profile"] == "smoke"
    assert saved["metrics"]["acc_dann"] == 0.5 and saved["metrics"]["seconds_train_dann"] >= 0
    assert "torch" in saved["versions"] and saved["threads"] == torch.get_num_threads()
    with pytest.raises(ValueError, match="nan"):
        run.metric("acc_dann", float("nan"))
    assert run.note("precision", "bf16") == "bf16" and json.loads(run.save().read_text())["precision"] == "bf16"
    with pytest.raises(ValueError, match="already has 'metrics'"):
        run.note("metrics", "none")


def test_a_runs_folders_are_named_by_its_record_under_the_runner_else_by_its_parameters(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_RUNS", str(tmp_path))
    monkeypatch.setenv("WORKBOOK_RECORD", str(tmp_path / "gan-dcgan-smoke-seed2.json"))
    assert report.Run("gan", methods="dcgan", profile="smoke", seed=2).outputs("images") == (
        tmp_path / "images" / "gan-dcgan-smoke-seed2")
    monkeypatch.delenv("WORKBOOK_RECORD")
    run = report.Run("gan", methods="dcgan", resume=True, profile="smoke", seed=2, data_root="/course data")
    assert run.outputs("checkpoints") == tmp_path / "checkpoints" / "gan-dcgan-_course_data-smoke-seed2"
    assert report.stem("gan", "smoke", 2, {"methods": "dcgan", "resume": True}) == "gan-dcgan-smoke-seed2"
    with pytest.raises(ValueError, match="no folder of 'figures'; expected one of"):
        run.outputs("figures")


def test_load_records_names_a_file_that_is_not_a_record(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"metrics": {}}')
    with pytest.raises(ValueError, match="bad.json.*lacks"):
        report.load_records([bad])


def gan_record(fid_features, seed, fid, seconds, inception_score=None, tricks=""):
    metrics = {"fid_dcgan": fid, "seconds_train_dcgan": seconds}
    if inception_score is not None:
        metrics["is_dcgan"] = inception_score
    return {"notebook": "gan", "parameters": {"seed": seed, "tricks": tricks}, "fid_features": fid_features,
            "metrics": metrics}


def test_gan_table_names_its_features_says_what_was_not_run_and_refuses_to_mix_features():
    table = report.gan_table([gan_record("random ConvNet (seed 0)", s, fid, 60) for s, fid in ((0, 10), (1, 20))])
    assert list(table.index) == ["DCGAN", "WGAN-GP", "SAGAN", "StyleGAN2"]
    assert table.loc["SAGAN"].tolist() == ["not run"] * 3
    assert table.loc["DCGAN", "FD (random ConvNet (seed 0) features)"] == "15.0000 ± 7.0711 (2)"
    assert table.loc["DCGAN", "IS"] == "needs Inception weights"
    inception = report.gan_table([gan_record("Inception", 0, 30.5, 60, inception_score=2.1)])
    assert inception.loc["DCGAN", "FID (Inception)"] == "30.5000" and inception.loc["DCGAN", "IS"] == "2.1000"
    with pytest.raises(ValueError, match="compares one kind"):
        report.gan_table([gan_record("Inception", 0, 30, 60), gan_record("random ConvNet (seed 0)", 0, 9, 60)])


def test_gan_table_keeps_runs_with_diffaugment_apart():
    features = "random ConvNet (seed 0)"
    records = [gan_record(features, 0, 10, 60), gan_record(features, 1, 20, 60),
               gan_record(features, 0, 4, 70, tricks="diffaugment=color,cutout,n_critic=2"),
               gan_record(features, 0, 8, 70, tricks="diffaugment=translation")]
    table = report.gan_table(records)
    assert list(table.index)[:3] == ["DCGAN", "DCGAN + DiffAugment (color, cutout)", "DCGAN + DiffAugment (translation)"]
    assert table.iloc[:3, 0].tolist() == ["15.0000 ± 7.0711 (2)", "4.0000", "8.0000"]
