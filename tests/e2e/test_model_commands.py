"""The model's command line as a data scientist uses it: simulate, train on a file, evaluate,
score, all through real processes."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest

from tests.processes import FRAUD, fraud, fraud_env

pytestmark = pytest.mark.e2e


# Six processes, one of them training with TensorFlow: 58 s of CPU, and 258 to 267 s of wall
# time in whole suites' runs on busy 2-core machines, near the default timeout that is there
# to stop a hang.
@pytest.mark.timeout(600)
def test_train_on_a_labelled_file_then_evaluate_and_score_another(tmp_path) -> None:
    train_csv, eval_csv = tmp_path / "train.csv", tmp_path / "eval.csv"
    fraud(
        "simulate",
        "--samples",
        "6000",
        "--seed",
        "31",
        "--fraud-rate",
        "0.02",
        "--out",
        str(train_csv),
    )
    fraud(
        "simulate",
        "--samples",
        "3000",
        "--seed",
        "32",
        "--fraud-rate",
        "0.02",
        "--out",
        str(eval_csv),
    )

    model_dir = tmp_path / "model"
    trained = fraud(
        "train",
        *("--data", str(train_csv), "--label-delay", "1d"),
        *("--epochs", "3", "--model-dir", str(model_dir)),
        FRAUD_DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'fraud.db'}",
        FRAUD_ARCHIVE_KEY="",  # as a data scientist's shell: no key set
    )
    assert "average precision (PR-AUC)" in trained.stdout
    # With no key, the model is saved and left for the first `fraud run` to register (and
    # sign, with the key file that start alone makes: tests/e2e/test_archive_signing.py).
    assert "not registered: no archive key" in trained.stdout
    assert not (tmp_path / "var" / "archive.key").exists()
    card = json.loads((model_dir / "model.json").read_text())
    assert card["training_rows"] == 6000

    reports = tmp_path / "report"
    evaluated = fraud(
        "evaluate",
        "--data",
        str(eval_csv),
        "--model-dir",
        str(model_dir),
        "--report-dir",
        str(reports),
    )
    metrics = json.loads((reports / "metrics.json").read_text())
    assert metrics["rows"] == 3000 and metrics["frauds"] == 60
    assert metrics["average_precision"] > 0.3  # far above the 2% a random ranking gets
    assert f"average precision (PR-AUC)  {metrics['average_precision']:.4f}" in evaluated.stdout
    for chart in ("pr_curve.png", "score_histogram.png"):
        assert (reports / chart).read_bytes().startswith(b"\x89PNG")
    # The stream a day behind its labels: the file's own frauds, known a day after each.
    knowing = tmp_path / "knowing"
    fraud(
        "evaluate",
        *("--data", str(eval_csv), "--label-delay", "1d"),
        *("--model-dir", str(model_dir), "--report-dir", str(knowing)),
    )
    with_labels = json.loads((knowing / "metrics.json").read_text())
    assert with_labels["average_precision"] != metrics["average_precision"]

    scored = tmp_path / "scored.csv"
    fraud("score", "--data", str(eval_csv), "--out", str(scored), "--model-dir", str(model_dir))
    with scored.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3000
    assert set(rows[0]) == {"transaction_id", "fraud_score", "decision", "reasons"}
    assert {row["decision"] for row in rows} <= {"approve", "review", "decline"}
    assert all(0.0 <= float(row["fraud_score"]) <= 1.0 for row in rows)


def test_a_bad_labelled_file_is_refused_with_the_line_and_field(tmp_path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text(
        "user_id,amount,merchant,timestamp,merchant_type,device_type,location_match,is_fraud\n"
        "u1,12.5,Shop,2025-01-01T10:00:00Z,grocery,mobile,1,0\n"
        "u2,-3,Shop,2025-01-01T10:05:00Z,grocery,mobile,1,0\n"
    )
    result = subprocess.run(
        [FRAUD, "train", "--data", str(data), "--model-dir", str(tmp_path / "m")],
        env=fraud_env(FRAUD_DATABASE_URL=f"sqlite:///{tmp_path / 'fraud.db'}"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "line 3" in result.stderr and "amount: must be 0 or more" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_with_a_few_bad_rows_says_which_and_can_skip_them(tmp_path, small_model) -> None:
    header = "user_id,amount,merchant,timestamp,merchant_type,device_type,location_match\n"
    good = [
        f"u{i % 3},{10 + i}.00,Shop,2025-01-01T10:{i:02d}:00Z,grocery,pos,1\n" for i in range(8)
    ]
    bad = [
        "u1,0.005,Shop,2025-01-01T11:00:00Z,grocery,pos,1\n",  # under a cent
        "u2,12.50,Shop\u202e,2025-01-01T11:01:00Z,grocery,pos,1\n",  # a bidi override
        "u3,0.00,Shop,2025-01-01T11:02:00Z,grocery,pos,1\n",  # a verification: valid
    ]
    data = tmp_path / "mixed.csv"
    data.write_text(header + "".join(good[:4] + bad + good[4:]), encoding="utf-8")
    out = tmp_path / "scored.csv"
    command = [FRAUD, "score", "--data", str(data), "--out", str(out)]
    command += ["--model-dir", str(small_model)]

    refused = subprocess.run(command, env=fraud_env(), capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and not out.exists()
    assert "2 invalid rows (line 6: amount: must be 0, or at least 0.01" in refused.stderr
    assert "line 7: merchant: must contain only printable characters" in refused.stderr

    skipped = subprocess.run(
        [*command, "--on-invalid", "skip"], env=fraud_env(), capture_output=True, text=True
    )
    assert skipped.returncode == 0, skipped.stderr[-2000:]
    assert "skipped 2 invalid rows (line 6:" in skipped.stderr
    assert "scored 9 transactions" in skipped.stdout


def test_a_label_delay_that_is_not_a_duration_is_refused_by_name(tmp_path) -> None:
    refused = subprocess.run(
        [FRAUD, "train", "--samples", "100", "--label-delay", "7x"],
        env=fraud_env(FRAUD_DATABASE_URL=f"sqlite:///{tmp_path / 'fraud.db'}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2
    assert "--label-delay" in refused.stderr and "'7x' is not a duration" in refused.stderr
