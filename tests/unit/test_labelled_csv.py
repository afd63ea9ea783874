"""Labelled CSV files: a faithful round trip, and bad files rejected by line and field."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fraud.adapters.csv.labelled import (
    COLUMNS,
    read_labelled,
    read_labels,
    read_transactions,
    write_labelled,
)
from fraud.adapters.simulation.simulator import simulate
from fraud.domain.errors import BadDataFile
from fraud.domain.label_risk import KnownLabel
from fraud.domain.model import LabelledTransaction
from fraud.domain.transaction import Transaction

HEADER = (
    "transaction_id,user_id,amount,currency,merchant,timestamp,"
    "merchant_type,device_type,location_match,is_fraud"
)
GOOD = "t1,user1,12.50,USD,Corner Grocery 1,2025-01-01T10:00:00Z,grocery,pos,1,0"


def write(tmp_path: Path, *lines: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_columns_are_the_contract_plus_the_label_and_when_it_became_known() -> None:
    assert (*HEADER.split(","), "labelled_at") == COLUMNS


def test_when_a_label_became_known_is_read_where_the_file_says(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + ",labelled_at",
        GOOD + ",2025-01-09T08:00:00+02:00",
        GOOD.replace("t1,", "t2,") + ",",
    )
    first, second = read_labelled(path)
    assert first.labelled_at == datetime(2025, 1, 9, 6, tzinfo=UTC)
    assert second.labelled_at is None  # a training run assumes the label delay


def test_a_labelled_at_without_a_time_zone_is_refused_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ",labelled_at", GOOD + ",2025-01-09T08:00:00")
    with pytest.raises(BadDataFile, match="labelled_at: must be an ISO 8601 time with a time zone"):
        read_labelled(path)


def test_a_label_file_gives_each_verdict_and_when_it_became_known(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "labelled_at,transaction_id,is_fraud",
        "2025-02-01T00:00:00Z,t1,1",
        "2025-02-03T12:30:00Z,t2,false",
    )
    assert read_labels(path) == [
        KnownLabel("t1", True, datetime(2025, 2, 1, tzinfo=UTC)),
        KnownLabel("t2", False, datetime(2025, 2, 3, 12, 30, tzinfo=UTC)),
    ]


def test_a_label_file_with_broken_rows_names_each_field_and_rule(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "transaction_id,is_fraud,labelled_at",
        ",1,2025-02-01T00:00:00Z",
        "t2,yes,2025-02-01",
    )
    with pytest.raises(BadDataFile) as refused:
        read_labels(path)
    message = str(refused.value)
    assert "line 2: transaction_id: is required" in message
    assert "line 3: is_fraud: must be 0, 1, true or false" in message
    assert "labelled_at: must be an ISO 8601 time with a time zone" in message


def test_round_trip_gives_back_the_same_rows(tmp_path: Path) -> None:
    rows = simulate(2_000, fraud_rate=0.02)
    path = tmp_path / "nested" / "labelled.csv"
    assert write_labelled(path, rows) == len(rows)
    assert read_labelled(path) == rows


def test_round_trip_keeps_odd_values(tmp_path: Path) -> None:
    odd = Transaction(
        transaction_id='id, with "quotes"',
        user_id="user-ü",
        amount=0.125,
        merchant='Café, Ltd. "Second" shop',
        timestamp=datetime(2025, 3, 1, 23, 59, 59, 123456, tzinfo=UTC),
        merchant_type="crypto",
        device_type="smartwatch",
        location_match=False,
        currency="BHD",  # three decimals
    )
    rows = [LabelledTransaction(odd, True)]
    path = tmp_path / "odd.csv"
    write_labelled(path, rows)
    assert read_labelled(path) == rows


def test_amounts_are_written_as_money(tmp_path: Path) -> None:
    rows = simulate(20)
    path = tmp_path / "money.csv"
    write_labelled(path, rows)
    amounts = [line.split(",")[2] for line in path.read_text().splitlines()[1:]]
    assert all(len(amount.split(".")[1]) == 2 for amount in amounts)


def test_optional_columns_extra_columns_and_flag_spellings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\ufeffuser_id, Amount ,merchant,timestamp,merchant_type,device_type,"
        "location_match,is_fraud,note",
        "user1,12.5,Corner Grocery 1,2025-01-01T10:00:00+02:00,Grocery,pos,true,FALSE,ignored",
        "",
        "user2,7,Daily Coffee 3,2025-01-01T11:00:00Z,restaurant,mobile,0,1,",
    )
    first, second = read_labelled(path)
    assert first.transaction.transaction_id == "row-2"
    assert first.transaction.currency == "USD"
    assert first.transaction.amount == 12.5
    assert first.transaction.merchant_type == "grocery"
    assert first.transaction.timestamp == datetime(2025, 1, 1, 8, tzinfo=UTC)
    assert first.transaction.location_match is True
    assert first.is_fraud is False
    assert second.transaction.transaction_id == "row-4"
    assert second.transaction.location_match is False
    assert second.is_fraud is True


def test_bad_row_names_its_line_and_every_broken_rule(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER,
        GOOD,
        "t2,user1,-3,USD,Corner Grocery 1,2025-01-01T10:00:00,grocery,pos,maybe,0",
    )
    with pytest.raises(BadDataFile) as caught:
        read_labelled(path)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.line == 3
    assert {e.field for e in error.errors} == {"amount", "timestamp", "location_match"}
    message = str(error)
    assert "line 3" in message
    assert "amount: must be 0 or more" in message
    assert "timestamp: must include a time zone" in message
    assert "location_match: must be 0, 1, true or false" in message


@pytest.mark.parametrize(
    ("row", "field", "rule"),
    [
        ("t2,user1,abc,USD,M 1,2025-01-01T10:00:00Z,grocery,pos,1,0", "amount", "must be a number"),
        ("t2,user1,5,USD,M 1,2025-01-01T10:00:00Z,grocery,pos,1,2", "is_fraud", "must be 0, 1"),
        (
            "t2,user1,5,XYZ,M 1,2025-01-01T10:00:00Z,grocery,pos,1,0",
            "currency",
            "must be an ISO 4217",
        ),
        ("t2,,5,USD,M 1,2025-01-01T10:00:00Z,grocery,pos,1,0", "user_id", "is required"),
        ("t2,user1,5,USD,M 1,2025-01-01T10:00:00Z,grocery,pos", "location_match", "is required"),
    ],
)
def test_each_broken_field_is_named(tmp_path: Path, row: str, field: str, rule: str) -> None:
    path = write(tmp_path, HEADER, row)
    with pytest.raises(BadDataFile, match=f"line 2: .*{field}: {rule}"):
        read_labelled(path)


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "user_id,amount,merchant,timestamp,device_type,location_match",
        "user1,5,M 1,2025-01-01T10:00:00Z,pos,1",
    )
    with pytest.raises(BadDataFile, match="missing required columns: merchant_type, is_fraud"):
        read_labelled(path)
    with pytest.raises(BadDataFile, match=r"missing required column: merchant_type$"):
        read_transactions(path)


def test_empty_file_needs_a_header(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(BadDataFile, match="header"):
        read_labelled(path)


def test_not_utf8_is_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\n" + GOOD.replace("Corner", "Caf\xe9") + "\n").encode("latin-1"))
    with pytest.raises(BadDataFile, match="UTF-8"):
        read_labelled(path)


def test_header_only_is_an_empty_list(tmp_path: Path) -> None:
    assert read_labelled(write(tmp_path, HEADER)) == []


def test_unlabelled_files_need_no_label_and_ignore_one(tmp_path: Path) -> None:
    unlabelled = write(
        tmp_path,
        "user_id,amount,merchant,timestamp,merchant_type,device_type,location_match",
        "user1,5,M 1,2025-01-01T10:00:00Z,grocery,pos,1",
        name="unlabelled.csv",
    )
    (txn,) = read_transactions(unlabelled)
    assert txn.transaction_id == "row-2"
    labelled = write(tmp_path, HEADER, GOOD)
    assert read_transactions(labelled) == [row.transaction for row in read_labelled(labelled)]


def test_a_gzipped_file_is_read_as_the_plain_one(tmp_path: Path) -> None:
    plain = write(tmp_path, HEADER, GOOD, GOOD.replace("t1,", "t2,").replace(",0\n", ",1\n"))
    packed = tmp_path / "data.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_labelled(packed) == read_labelled(plain)
    assert read_transactions(packed) == read_transactions(plain)


def test_a_gz_file_that_is_not_gzip_is_a_bad_file(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, GOOD, name="data.csv.gz")
    with pytest.raises(BadDataFile, match="is not a whole gzip file"):
        read_labelled(path)
