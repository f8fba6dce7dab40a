"""`loan-offers import` against SQLite and PostgreSQL (and Redis): validation with line numbers,
all or nothing, --partial, cache invalidation, and a database failure mid-import."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from config.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


async def run_import(database_url: str, *args: str, redis_url: str | None = None):
    env = {"LOAN_OFFERS_DATABASE_URL": database_url, "LOAN_OFFERS_REDIS_URL": redis_url or ""}
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, ["import", *args], env=env)


async def stored_ids(uow_factory: SqlUnitOfWorkFactory, ids: list[str]) -> set[str]:
    async with uow_factory() as uow:
        return set(await uow.applicants.get_many(ids))


@pytest.mark.parametrize("example", ["applicants.csv", "applicants.jsonl"])
async def test_the_examples_import_then_update(database_url: str,
                                               uow_factory: SqlUnitOfWorkFactory,
                                               example: str) -> None:
    first = await run_import(database_url, str(EXAMPLES / example))
    assert first.exit_code == 0, first.output
    assert "imported 3 applicants (3 new, 0 updated) from 3 rows; 0 rows rejected" in first.output
    again = await run_import(database_url, str(EXAMPLES / example))
    assert "(0 new, 3 updated)" in again.output and again.exit_code == 0
    async with uow_factory() as uow:
        assert await uow.applicants.count() == 3


async def test_csv_and_json_lines_store_the_same_applicant(uow_factory: SqlUnitOfWorkFactory,
                                                          database_url: str) -> None:
    for example in ("applicants.csv", "applicants.jsonl"):
        assert (await run_import(database_url, str(EXAMPLES / example))).exit_code == 0
    async with uow_factory() as uow:
        from_csv = await uow.applicants.get("lender-000101")
        from_json = await uow.applicants.get("lender-j000101")
    assert from_csv is not None and replace(from_csv, user_id="lender-j000101") == from_json
    async with uow_factory() as uow:
        thin = await uow.applicants.get("lender-000103")
    assert thin is not None and thin.credit.bureau_score is None


async def test_bad_rows_are_reported_by_line_and_nothing_is_stored(
        database_url: str, uow_factory: SqlUnitOfWorkFactory) -> None:
    result = await run_import(database_url, str(EXAMPLES / "applicants_with_errors.csv"))
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert "line 4 (lender-000202): monthly_income: must be between 0 and 100,000,000, got " \
           "-5000" in errors
    assert any(e.startswith("line 5 (lender-000203): date_of_birth:") for e in errors)
    for field in ("existing_emi", "employment_type", "bureau_score", "pan"):
        assert any(e.startswith(f"line 5 (lender-000203): {field}:") for e in errors), field
    assert "line 6 (lender-000201): user_id: repeats the applicant of line 2" in errors
    assert not any(e.startswith(("line 2 ", "line 7 ")) for e in errors)
    assert "nothing imported: 3 of 5 rows rejected" in result.stdout
    assert await stored_ids(uow_factory, ["lender-000201", "lender-000204"]) == set()


async def test_partial_stores_the_valid_rows(database_url: str,
                                            uow_factory: SqlUnitOfWorkFactory) -> None:
    result = await run_import(database_url, str(EXAMPLES / "applicants_with_errors.csv"),
                              "--partial")
    assert result.exit_code == 1
    assert "imported 2 applicants (2 new, 0 updated) from 5 rows; 3 rows rejected" in result.stdout
    ids = ["lender-000201", "lender-000202", "lender-000203", "lender-000204"]
    assert await stored_ids(uow_factory, ids) == {"lender-000201", "lender-000204"}
    async with uow_factory() as uow:
        rahul = await uow.applicants.get("lender-000201")
    assert rahul is not None and rahul.personal.address == "Flat 4B,\nKothrud, Pune 411038"


async def test_unreadable_files_are_usage_errors(database_url: str, tmp_path: Path) -> None:
    assert (await run_import(database_url, str(tmp_path / "missing.csv"))).exit_code == 2
    other = tmp_path / "records.xlsx"
    other.write_text("x")
    result = await run_import(database_url, str(other))
    assert result.exit_code == 2 and "expected a .csv" in result.stderr


ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@ON_POSTGRESQL
async def test_imported_users_leave_the_shared_cache(postgres_url: str, redis_url: str,
                                                    uow_factory: SqlUnitOfWorkFactory) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("loan-offers:applicant:lender-000101", "{}")
    client.set("loan-offers:history:lender-000102", "{}")
    client.set("loan-offers:applicant:someone-else", "{}")
    result = await run_import(postgres_url, str(EXAMPLES / "applicants.csv"), redis_url=redis_url)
    assert result.exit_code == 0, result.output
    entries = client.keys("loan-offers:applicant:*") + client.keys("loan-offers:history:*")
    assert entries == [b"loan-offers:applicant:someone-else"]
    # the imported users' history generations moved on: no older history entry counts
    assert client.get("loan-offers:history-gen:lender-000102") == b"1"


@ON_POSTGRESQL
async def test_a_database_failure_mid_import_leaves_nothing(
        postgres_url: str, uow_factory: SqlUnitOfWorkFactory, sql_engine: AsyncEngine,
        tmp_path: Path) -> None:
    lines = (EXAMPLES / "applicants.csv").read_text().splitlines()
    header, row = lines[0], lines[1]
    # 1,200 valid rows: three upsert batches; the trigger refuses a row of the last one.
    rows = [row.replace("lender-000101", f"bulk-{i:05d}") for i in range(1200)]
    big = tmp_path / "bulk.csv"
    big.write_text("\n".join([header, *rows]) + "\n")
    async with sql_engine.begin() as connection:
        await connection.execute(text("""
            CREATE OR REPLACE FUNCTION refuse_bulk_01100() RETURNS trigger AS $$
            BEGIN
              IF NEW.user_id = 'bulk-01100' THEN RAISE EXCEPTION 'refused by test trigger'; END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql"""))
        await connection.execute(text(
            "CREATE TRIGGER refuse_bulk BEFORE INSERT ON applicant_behavior "
            "FOR EACH ROW EXECUTE FUNCTION refuse_bulk_01100()"))
    try:
        result = await run_import(postgres_url, str(big))
    finally:
        async with sql_engine.begin() as connection:
            await connection.execute(text("DROP TRIGGER refuse_bulk ON applicant_behavior"))
            await connection.execute(text("DROP FUNCTION refuse_bulk_01100()"))
    assert result.exit_code == 1
    assert "nothing imported" in result.stderr and "refused by test trigger" in result.stderr
    async with uow_factory() as uow:
        assert await uow.applicants.count() == 0
