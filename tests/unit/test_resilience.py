"""Read retries and database error translation, on fakes (the fault tests use real servers)."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa

from adapters.sql.errors import is_unavailable
from application.errors import NotFound, Unavailable
from graphql_api.retry import retry_read


class Flaky:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "value"


async def test_reads_are_retried_while_the_database_is_unavailable() -> None:
    read = Flaky([Unavailable("down"), Unavailable("down")])
    assert await retry_read(read, attempts=3) == "value"
    assert read.calls == 3


async def test_read_retries_stop_after_the_attempts_and_raise_the_last_error() -> None:
    read = Flaky([Unavailable("down")] * 5)
    with pytest.raises(Unavailable):
        await retry_read(read, attempts=2)
    assert read.calls == 2


async def test_other_errors_are_not_retried() -> None:
    read = Flaky([NotFound("no such offer")])
    with pytest.raises(NotFound):
        await retry_read(read, attempts=3)
    assert read.calls == 1


@pytest.mark.parametrize(("error", "expected"), [
    (sa.OperationalError("SELECT 1", {}, Exception("server closed the connection")), True),
    (sa.TimeoutError("QueuePool limit reached"), True),
    (ConnectionRefusedError(111, "refused"), True),
    (TimeoutError(), True),
    (sa.ProgrammingError("SELEC 1", {}, Exception("syntax error")), False),
    (sa.IntegrityError("INSERT", {}, Exception("duplicate key")), False),
    (ValueError("bug"), False),
])
def test_which_database_errors_mean_unavailable(error: BaseException, expected: bool) -> None:
    assert is_unavailable(error) is expected
