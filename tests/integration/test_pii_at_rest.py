"""Encryption at rest, end to end on real SQLite and PostgreSQL with real Redis: applicants
written through the service's own paths (seed, import, the GraphQL upsert), read and priced
(filling both cache levels), then every text column of every table and every Redis key and value
read raw: no personal value appears in plaintext. Also the migration that seals an existing
database, ``keys rotate``, and lookups through the blind index."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from adapters.crypto.keys import (
    KeyMaterialError,
    generate_index_key,
    generate_key_entry,
    parse_keyring,
)
from adapters.demo.portfolio import generate_applicants
from adapters.ingest.record_files import read_records
from adapters.sql.database import create_engine, session_factory
from adapters.sql.migrate import upgrade_to, upgrade_to_head
from adapters.sql.pii_columns import SEALED
from adapters.sql.pii_rotation import reseal_batch, rotate, stored_key_usage
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from application.pii import ContactKind, PiiProtection, UnknownKeyId
from config.asgi import create_app
from config.cli import app as cli
from config.container import build_container, shutdown
from config.pii_keys import pii_protection
from config.settings import InsecureConfiguration, Settings
from domain.applicant import Applicant
from tests.pii import pii_settings

UPSERT = """mutation($input: ApplicantInput!) { upsertApplicant(input: $input) { userId
  personal { fullName dateOfBirth phone email pan address } } }"""
APPLICANT = """query($userId: ID!) { applicant(userId: $userId) { userId
  personal { fullName dateOfBirth phone email pan address } } }"""
OFFERS = """query($userId: ID!) { loanOffers(request: {userId: $userId}) { offers { offerId } } }"""

UPSERTED = {
    "userId": "lender-9001", "fullName": "Ishita Raghunathan", "dateOfBirth": "1987-09-23",
    "monthlyIncome": 120000, "existingEmi": 8000, "employmentType": "SALARIED",
    "employerCategory": "CAT_A", "monthsInCurrentJob": 50, "creditHistoryMonths": 110,
    "bureauScore": 790, "delinquencies24m": 0, "enquiries6m": 1, "creditUtilisation": 0.2,
    "phone": "+91 99001 23457", "email": "Ishita.R@bank-customer.example", "pan": "AQRPR4321K",
    "address": "14 Lavelle Road, Bengaluru 560001", "religion": "JAIN",
}
IMPORTED = {
    "user_id": "lender-9002", "full_name": "Tenzin Wangchuk Bhutia", "date_of_birth": "1979-02-11",
    "phone": "9811122233", "email": "tenzin.bhutia@mail.example", "pan": "BTWPB5678Q",
    "address": "3 Mall Road, Gangtok 737101", "monthly_income": "88000", "existing_emi": "0",
    "employment_type": "SELF_EMPLOYED", "employer_category": "UNRATED",
    "months_in_current_job": "70", "credit_history_months": "150", "bureau_score": "744",
    "delinquencies_24m": "0", "enquiries_6m": "2", "credit_utilisation": "0.4",
}


def personal_values(a: Applicant) -> set[str]:
    """The personal values worth searching for as text (protected attributes are short codes
    such as "SC" that any ciphertext may contain: their columns are checked for envelopes)."""
    p = a.personal
    return {v for v in (p.full_name, p.date_of_birth.isoformat(), p.phone, p.email, p.pan,
                        p.address) if v}


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)


async def raw_database_text(engine: AsyncEngine) -> dict[str, str]:
    """Every column of every table (Alembic's included) as text, per ``table.column``."""
    def read(connection: sa.Connection) -> dict[str, str]:
        found: dict[str, list[str]] = {}
        inspector = sa.inspect(connection)
        for table in inspector.get_table_names():
            rows = connection.execute(sa.text(f'SELECT * FROM "{table}"')).mappings().all()
            for row in rows:
                for column, value in row.items():
                    found.setdefault(f"{table}.{column}", []).append(_text(value))
        return {where: "\n".join(values) for where, values in found.items()}

    async with engine.connect() as connection:
        return await connection.run_sync(read)


def raw_redis_text(url: str) -> str:
    """Every key, and every value of every type, in the Redis database."""
    out = []
    with redis.Redis.from_url(url) as client:
        for key in client.scan_iter(count=500):
            kind = client.type(key).decode()
            value = {"string": lambda k: [client.get(k)],
                     "hash": lambda k: [*client.hgetall(k).keys(), *client.hgetall(k).values()],
                     "list": lambda k: client.lrange(k, 0, -1),
                     "set": lambda k: list(client.smembers(k)),
                     "zset": lambda k: client.zrange(k, 0, -1)}.get(kind, lambda k: [])(key)
            out += [_text(key), *(_text(v) for v in value)]
    return "\n".join(out)


def plaintext_leaks(values: set[str], *texts: dict[str, str] | str) -> list[str]:
    leaks = []
    for text in texts:
        places = text.items() if isinstance(text, dict) else [("redis", text)]
        for where, content in places:
            leaks += [f"{value!r} in {where}" for value in values if value in content]
    return leaks


@pytest.fixture
async def service(uow_factory: SqlUnitOfWorkFactory, database_url: str, redis_url: str,
                  policy_toml: str) -> AsyncIterator[Any]:
    """The whole service (container and ASGI app) on the emptied test database and Redis, with
    its own random keys."""
    settings = Settings(database_url=database_url, redis_url=redis_url, profile="dev",
                        **pii_settings("k1"))
    container = build_container(settings)
    await container.bootstrap_policy().execute(policy_toml)
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        container.client = client
        yield container
    await shutdown(container)


async def gql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def test_no_personal_value_is_stored_or_cached_in_plaintext(
        service: Any, sql_engine: AsyncEngine, redis_url: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    seeded = list(generate_applicants(25, start=500))
    await service.seed_applicants().execute(seeded)
    records = tmp_path / "records.jsonl"
    records.write_text(json.dumps(IMPORTED) + "\n")
    report = await service.import_applicants().execute(read_records(records))
    assert report.committed and report.imported == 1, report.errors
    upserted = await gql(service.client, UPSERT, input=UPSERTED)
    assert upserted["upsertApplicant"]["personal"]["email"] == UPSERTED["email"]

    readers = [seeded[0].user_id, seeded[1].user_id, IMPORTED["user_id"], UPSERTED["userId"]]
    for user_id in readers:  # read and priced: both cache levels hold these applicants
        await gql(service.client, OFFERS, userId=user_id)
        shown = await gql(service.client, APPLICANT, userId=user_id)
    assert shown["applicant"]["personal"]["address"] == UPSERTED["address"]

    database, cached = await raw_database_text(sql_engine), raw_redis_text(redis_url)
    secrets = set().union(*(personal_values(a) for a in seeded)) | {
        v for k, v in UPSERTED.items() if k in ("fullName", "dateOfBirth", "phone", "email",
                                                "pan", "address")} | {
        v for k, v in IMPORTED.items() if k in ("full_name", "date_of_birth", "phone", "email",
                                                "pan", "address")}
    # Normal forms too: a lower-cased e-mail or a digits-only phone is the same secret.
    secrets |= {UPSERTED["email"].lower(), "9900123457", "9811122233"}
    assert not plaintext_leaks(secrets, database, cached)
    logged = caplog.text + "".join(capsys.readouterr())  # stdlib and structlog output
    assert not [value for value in secrets if value in logged]

    # The scan sees what is there: user ids are not secret and are found in both places...
    assert plaintext_leaks({UPSERTED["userId"]}, database) and UPSERTED["userId"] in cached
    # ... and every sealed column holds envelopes of this service's key, nothing else.
    assert len(database["applicants.full_name"].splitlines()) == 27
    for column in SEALED:
        values = [v for v in database[f"applicants.{column}"].splitlines() if v]
        assert values and all(v.startswith("v1.k1.") for v in values), column
    assert "personal_sealed" in cached


async def test_a_value_swapped_between_rows_or_columns_fails_to_read_with_a_clear_error(
        service: Any, sql_engine: AsyncEngine) -> None:
    a, b = generate_applicants(2, start=700)
    await service.seed_applicants().execute([a, b])
    async with sql_engine.begin() as connection:
        table = sa.table("applicants", sa.column("user_id"), sa.column("email"),
                         sa.column("phone"))
        sealed = (await connection.execute(sa.select(table.c.email, table.c.phone)
                                           .where(table.c.user_id == a.user_id))).one()
        await connection.execute(sa.update(table).where(table.c.user_id == b.user_id)
                                 .values(email=sealed.email))       # a's e-mail in b's row
        await connection.execute(sa.update(table).where(table.c.user_id == a.user_id)
                                 .values(email=sealed.phone))       # a's phone in its e-mail
    for user_id in (a.user_id, b.user_id):
        async with service.uow_factory()() as uow:
            with pytest.raises(Exception, match="moved from another row or column"):
                await uow.applicants.get(user_id)


async def test_lookups_by_email_phone_and_pan_use_the_blind_index(
        service: Any, sql_engine: AsyncEngine) -> None:
    seeded = list(generate_applicants(6, start=900))
    await service.seed_applicants().execute(seeded)
    await gql(service.client, UPSERT, input=UPSERTED)
    find = service.find_applicants()

    assert await find.execute(ContactKind.EMAIL, "  ISHITA.r@BANK-customer.example") == (
        UPSERTED["userId"],)
    assert await find.execute(ContactKind.PHONE, "099001-23457") == (UPSERTED["userId"],)
    assert await find.execute(ContactKind.PAN, "aqrpr4321k") == (UPSERTED["userId"],)
    target = next(a for a in seeded if a.personal.pan)
    assert await find.execute(ContactKind.PAN, target.personal.pan) == (target.user_id,)
    assert await find.execute(ContactKind.EMAIL, "nobody@example.com") == ()
    assert await find.execute(ContactKind.PHONE, "n/a") == ()
    # The stored digest is not the plain hash anyone could compute.
    database = await raw_database_text(sql_engine)
    import hashlib
    assert hashlib.sha256(b"aqrpr4321k").hexdigest() not in database["applicants.pan_bidx"]


async def test_keys_rotate_reseals_everything_under_the_new_key(
        uow_factory: SqlUnitOfWorkFactory, sql_engine: AsyncEngine) -> None:
    index = generate_index_key()
    old, new = generate_key_entry("k-old"), generate_key_entry("k-new")

    def protection(*entries: str) -> PiiProtection:
        from adapters.crypto.keys import parse_index_key
        return PiiProtection(parse_keyring(",".join(entries)), parse_index_key(index))

    applicants = list(generate_applicants(23, start=1200))
    factory = SqlUnitOfWorkFactory(session_factory(sql_engine), pii=protection(old))
    async with factory() as uow:
        await uow.applicants.add_many(applicants)
        await uow.commit()

    both = protection(new, old)
    assert (await stored_key_usage(sql_engine, both)).keys() == {"k-old"}

    class Interrupted(Exception):
        pass

    def stop_after_first_batch(total: Any) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):  # a run stopped after its first committed batch ...
        await rotate(sql_engine, both, size=10, on_batch=stop_after_first_batch)
    halfway = await stored_key_usage(sql_engine, both)
    assert 0 < halfway["k-new"] < halfway["k-new"] + halfway["k-old"]
    total = await rotate(sql_engine, both, size=10)  # ... resumes with the rows left
    assert total.rows_changed == 13 and total.from_plaintext == 0
    assert sum(total.from_older_key.values()) == halfway["k-old"]
    again = await rotate(sql_engine, both, size=10)  # idempotent
    assert again.rows_seen == 0 and again.rows_changed == 0

    usage = await stored_key_usage(sql_engine, both)
    assert set(usage) == {"k-new"}
    database = await raw_database_text(sql_engine)
    for column in SEALED:
        values = [v for v in database[f"applicants.{column}"].splitlines() if v != ""]
        assert all(v.startswith("v1.k-new.") for v in values), column

    retired = SqlUnitOfWorkFactory(session_factory(sql_engine), pii=protection(new))
    async with retired() as uow:  # the old key is gone and every applicant still reads
        assert await uow.applicants.get_many([a.user_id for a in applicants]) == {
            a.user_id: a for a in applicants}
        assert await uow.applicants.find_by_contact(
            ContactKind.EMAIL, applicants[0].personal.email) == (applicants[0].user_id,)
    async with SqlUnitOfWorkFactory(session_factory(sql_engine), pii=protection(old))() as uow:
        with pytest.raises(UnknownKeyId):
            await uow.applicants.get(applicants[0].user_id)


async def test_the_keys_commands_rotate_report_and_find(
        uow_factory: SqlUnitOfWorkFactory, sql_engine: AsyncEngine, database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    keys = pii_settings("c1", "c2")  # c1 seals, c2 opens
    first_key, second_key = keys["pii_keys"].split(",")
    monkeypatch.setenv("LOAN_OFFERS_DATABASE_URL", database_url)
    monkeypatch.setenv("LOAN_OFFERS_PII_INDEX_KEY", keys["pii_index_key"])
    monkeypatch.setenv("LOAN_OFFERS_PII_KEYS", second_key)
    applicants = list(generate_applicants(5, start=1500))
    container = build_container(Settings())
    await container.seed_applicants().execute(applicants)
    await shutdown(container)
    runner = CliRunner()

    monkeypatch.setenv("LOAN_OFFERS_PII_KEYS", f"{first_key},{second_key}")
    before = await asyncio.to_thread(runner.invoke, cli, ["keys", "status"])
    assert before.exit_code == 0 and "c2\t" in before.stdout and "c1\t0\tcurrent" in before.stdout
    rotated = await asyncio.to_thread(runner.invoke, cli, ["keys", "rotate", "--batch-size", "2"])
    assert rotated.exit_code == 0, rotated.output
    assert "5 of 5 rows re-sealed in 3 batches" in rotated.stdout
    after = await asyncio.to_thread(runner.invoke, cli, ["keys", "status"])
    assert "c2\t0\tdecrypt only" in after.stdout

    monkeypatch.setenv("LOAN_OFFERS_PII_KEYS", first_key)  # c2 retired
    email = applicants[3].personal.email
    found = await asyncio.to_thread(runner.invoke, cli, ["applicants", "find", "--email",
                                                         email.upper()])
    assert found.exit_code == 0 and found.stdout.split() == [applicants[3].user_id]
    none = await asyncio.to_thread(runner.invoke, cli, ["applicants", "find", "--pan",
                                                        "ZZZZZ9999Z"])
    assert none.exit_code == 1 and none.stdout == ""
    generated = await asyncio.to_thread(runner.invoke, cli, ["keys", "generate", "--kid", "k9"])
    assert generated.stdout.startswith("k9:") and parse_keyring(generated.stdout).key_ids == ("k9",)


def _alembic(action: str, url: str, revision: str, pii: PiiProtection) -> None:
    from alembic import command

    from adapters.sql.migrate import alembic_config
    getattr(command, action)(alembic_config(url, pii), revision)


async def test_a_new_blind_index_key_takes_effect_after_keys_rotate_reindex(
        uow_factory: SqlUnitOfWorkFactory, sql_engine: AsyncEngine) -> None:
    from adapters.crypto.keys import parse_index_key

    cipher = parse_keyring(generate_key_entry("k1"))
    first = PiiProtection(cipher, parse_index_key(generate_index_key()))
    second = PiiProtection(cipher, parse_index_key(generate_index_key()))
    applicants = list(generate_applicants(4, start=3000))
    async with SqlUnitOfWorkFactory(session_factory(sql_engine), pii=first)() as uow:
        await uow.applicants.add_many(applicants)
        await uow.commit()
    pan, owner = next((a.personal.pan, a.user_id) for a in applicants if a.personal.pan)

    async def find(pii: PiiProtection) -> tuple[str, ...]:
        async with SqlUnitOfWorkFactory(session_factory(sql_engine), pii=pii)() as uow:
            return await uow.applicants.find_by_contact(ContactKind.PAN, pan)

    assert await find(first) == (owner,) and await find(second) == ()
    assert (await rotate(sql_engine, second)).rows_seen == 0  # nothing to re-seal ...
    total = await rotate(sql_engine, second, reindex=True)    # ... but every digest to redo
    assert total.rows_changed == 4 and total.indexes_written >= 4
    assert total.from_plaintext == 0 and not total.from_older_key
    assert await find(second) == (owner,) and await find(first) == ()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}"
    from uuid import uuid4
    return request.getfixturevalue("postgres_server").create_database(f"pii_{uuid4().hex[:10]}")


async def test_the_migration_seals_an_existing_plaintext_database(fresh_database_url: str) -> None:
    url = fresh_database_url
    await asyncio.to_thread(upgrade_to, url, "0004")
    applicants = list(generate_applicants(7, start=2000))
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:  # rows as revision 0004 stored them
            for a in applicants:
                p, pr = a.personal, a.protected
                await connection.execute(sa.text(
                    "INSERT INTO applicants (user_id, full_name, date_of_birth, phone, email, pan,"
                    " address, monthly_income_paise, existing_emi_paise, employment_type,"
                    " employer_category, months_in_current_job, credit_history_months,"
                    " bureau_score, delinquencies_24m, enquiries_6m, credit_utilisation,"
                    " residence_type, has_write_off, gender, marital_status, religion, caste,"
                    " created_at, updated_at) VALUES (:u, :n, :d, :ph, :e, :pan, :ad, 100000,"
                    " 0, 'SALARIED', 'CAT_A', 12, 24, 700, 0, 0, 0.1, 'RENTED', false, :g, :m,"
                    " :r, :c, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                    {"u": a.user_id, "n": p.full_name, "d": p.date_of_birth.isoformat(),
                     "ph": p.phone, "e": p.email, "pan": p.pan, "ad": p.address, "g": pr.gender,
                     "m": pr.marital_status, "r": pr.religion, "c": pr.caste})
        with pytest.raises(RuntimeError, match="has no keys"):  # never half-done: refused
            await asyncio.to_thread(upgrade_to_head, url)
        keys = pii_settings("m1")
        container = build_container(Settings(database_url=url, **keys))
        pii = container.pii()
        await asyncio.to_thread(upgrade_to_head, url, pii)

        database = await raw_database_text(engine)
        assert not plaintext_leaks(set().union(*(personal_values(a) for a in applicants)),
                                   database)
        async with container.uow_factory()() as uow:
            stored = await uow.applicants.get_many([a.user_id for a in applicants])
            assert {u: (s.personal, s.protected) for u, s in stored.items()} == {
                a.user_id: (a.personal, a.protected) for a in applicants}
            assert await uow.applicants.find_by_contact(ContactKind.PAN, applicants[2].personal.pan
                                                        ) == (applicants[2].user_id,)
        async with engine.begin() as connection:
            _, counts = await connection.run_sync(reseal_batch, pii, None, 100)
        assert counts.rows_seen == 0  # nothing left for keys rotate
        await shutdown(container)

        # Down again: every value opened back into plaintext, the index columns gone.
        await asyncio.to_thread(_alembic, "downgrade", url, "0004", pii)
        async with engine.connect() as connection:
            back = (await connection.execute(sa.text(
                "SELECT full_name, email FROM applicants WHERE user_id = :u"),
                {"u": applicants[0].user_id})).one()
            columns = await connection.run_sync(
                lambda c: {col["name"] for col in sa.inspect(c).get_columns("applicants")})
        assert tuple(back) == (applicants[0].personal.full_name, applicants[0].personal.email)
        assert "email_bidx" not in columns
    finally:
        await engine.dispose()


def test_prod_refuses_to_start_or_migrate_without_pii_keys(identity_provider: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}"
    auth = identity_provider.settings_overrides()
    keys = pii_settings("p1")
    with pytest.raises(InsecureConfiguration, match="LOAN_OFFERS_PII_KEYS"):
        create_app(Settings(profile="prod", database_url=db, **auth))
    with pytest.raises(InsecureConfiguration, match="LOAN_OFFERS_PII_INDEX_KEY"):
        create_app(Settings(profile="prod", database_url=db, pii_keys=keys["pii_keys"], **auth))

    key_file = tmp_path / "keys"
    key_file.write_text(f"# mounted from the Secret\n{keys['pii_keys']}\n")
    with pytest.raises(InsecureConfiguration, match="not both"):
        pii_protection(Settings(profile="prod", pii_keys=keys["pii_keys"], pii_keys_file=key_file,
                                pii_index_key=keys["pii_index_key"]))
    with pytest.raises(KeyMaterialError, match="missing") as unreadable:
        pii_protection(Settings(profile="prod", pii_keys_file=tmp_path / "missing",
                                pii_index_key=keys["pii_index_key"]))
    assert keys["pii_index_key"] not in str(unreadable.value)
    from_file = pii_protection(Settings(profile="prod", pii_keys_file=key_file,
                                        pii_index_key=keys["pii_index_key"]))
    assert from_file.cipher.current_key_id == "p1"

    caplog.set_level(logging.WARNING, logger="config.pii_keys")
    pii_protection(Settings(profile="dev"))  # dev works without keys, and says so
    assert "PUBLIC development keyring and blind-index key" in caplog.text

    monkeypatch.setenv("LOAN_OFFERS_PROFILE", "prod")
    monkeypatch.setenv("LOAN_OFFERS_DATABASE_URL", db)
    refused = CliRunner().invoke(cli, ["migrate"])
    assert refused.exit_code == 2 and "LOAN_OFFERS_PII_KEYS" in refused.output
