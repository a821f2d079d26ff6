"""The bulk-issue reader: any upload gives a Sheet or a SpreadsheetError; checking never raises."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
from hypothesis import given
from hypothesis import strategies as st

from issuer.bulk import (
    MAX_ROWS,
    RowInput,
    Sheet,
    SpreadsheetError,
    check_rows,
    read_spreadsheet,
)

from .strategies import flipped, truncated

HEADERS = ["name", "Full Name", "e-mail", "Email Address", "first name", "surname", "ref", "x"]
cells = st.text(max_size=20) | st.sampled_from(["=1+1", "@SUM(A1)", "-2", "a@b.example", ""])
tables = st.lists(st.lists(cells | st.sampled_from(HEADERS), max_size=5), max_size=6)


def sheet_of(data: bytes, filename: str) -> Sheet | None:
    try:
        sheet = read_spreadsheet(data, filename)
    except SpreadsheetError:
        return None
    assert len(sheet.rows) <= MAX_ROWS
    assert "email" in sheet.columns
    assert "name" in sheet.columns or {"first_name", "last_name"} <= set(sheet.columns)
    return sheet


def csv_of(table: list[list[str]], delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(table)
    return buffer.getvalue()


def xlsx_of(table: list[list[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in table:
        workbook.active.append(row)  # type: ignore[union-attr]
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


WORKBOOK = xlsx_of([["Name", "Email"], ["Amina Haddad", "amina@example.org"]])


@given(st.binary(max_size=400), st.sampled_from(["learners.csv", "learners.xlsx", "x.xlsm", ""]))
def test_any_upload_gives_a_sheet_or_a_declared_error(data: bytes, filename: str) -> None:
    sheet_of(data, filename)


@given(
    tables,
    st.sampled_from([",", ";", "\t"]),
    st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16", "latin-1"]),
)
def test_any_csv_gives_a_sheet_or_a_declared_error(
    table: list[list[str]], delimiter: str, encoding: str
) -> None:
    data = csv_of(table, delimiter).encode(encoding, "replace")
    sheet_of(data, "learners.csv")


@given(tables)
def test_any_workbook_gives_a_sheet_or_a_declared_error(table: list[list[str]]) -> None:
    try:
        data = xlsx_of(table)
    except (ValueError, openpyxl.utils.exceptions.IllegalCharacterError):
        return  # openpyxl refuses to write control characters: nothing to upload
    sheet_of(data, "learners.xlsx")


@given(flipped(WORKBOOK) | truncated(WORKBOOK))
def test_a_damaged_workbook_gives_a_sheet_or_a_declared_error(data: bytes) -> None:
    sheet_of(data, "learners.xlsx")


@given(
    st.lists(
        st.builds(RowInput, st.integers(1, 10**6), cells, cells, cells, cells | st.text()),
        max_size=8,
    )
)
def test_checking_any_rows_gives_one_answer_per_row(rows: list[RowInput]) -> None:
    checked = check_rows(rows)
    assert [c.row_number for c in checked] == [r.row_number for r in rows]
    for row in checked:
        assert all(isinstance(problem, str) and problem for problem in row.problems)
