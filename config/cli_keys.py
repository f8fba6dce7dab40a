"""Key management and lookups for encryption at rest: ``keys generate``, ``keys rotate``,
``keys status`` and ``applicants find`` (README "Encryption at rest")."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

USAGE_ERROR = 2
T = TypeVar("T")

keys_app = typer.Typer(help="Keys sealing personal data at rest (AES-256-GCM keyring, blind "
                            "index).", no_args_is_help=True)
applicants_app = typer.Typer(help="Look applicants up without decrypting anything.",
                             no_args_is_help=True)


@keys_app.command("generate")
def generate(
    kid: Annotated[str | None, typer.Option(help="Key id (default: k<YYYYMMDD>-<random>).")]
    = None,
    index: Annotated[bool, typer.Option("--index", help="A blind-index key instead.")] = False,
) -> None:
    """Print a new random key: a keyring entry KID:KEY, or with --index a blind-index key. Put
    it into the secret; nothing is stored."""
    from adapters.crypto.keys import KeyMaterialError, generate_index_key, generate_key_entry

    try:
        typer.echo(generate_index_key() if index else generate_key_entry(kid))
    except KeyMaterialError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(USAGE_ERROR) from None


@keys_app.command("rotate")
def rotate(
    batch_size: Annotated[int, typer.Option(help="Rows per transaction.", min=1, max=10_000)]
    = 500,
    reindex: Annotated[bool, typer.Option(
        help="Also recompute every blind index (after changing the blind-index key).")] = False,
) -> None:
    """Re-seal every stored personal value under the current (first) key, batch by batch.

    Safe to interrupt and run again: finished rows are skipped. Afterwards `keys status` shows
    no values under the old key id, and that key can be removed from the keyring."""
    from adapters.sql.pii_rotation import RotationError
    from adapters.sql.pii_rotation import rotate as run_rotation

    container = _container()
    pii = container.pii()

    def progress(total) -> None:
        typer.echo(f"  batch {total.batches}: {total.rows_changed} rows re-sealed so far",
                   err=True)

    try:
        total = _run(container, lambda: run_rotation(container.engine(), pii, batch_size,
                                                     reindex, progress))
    except RotationError as exc:
        typer.echo(f"error: {exc}; batches before it are committed", err=True)
        raise typer.Exit(1) from None
    older = ", ".join(f"{n} from {k}" for k, n in sorted(total.from_older_key.items())) or "none"
    typer.echo(f"current key {pii.cipher.current_key_id}: {total.rows_changed} of "
               f"{total.rows_seen} rows re-sealed in {total.batches} batches; values sealed from "
               f"plaintext {total.from_plaintext}, from older keys {older}; blind indexes "
               f"written {total.indexes_written}")


@keys_app.command("status")
def status() -> None:
    """Stored personal values per key id: retire a key only when it seals none."""
    from adapters.sql.pii_rotation import stored_key_usage

    container = _container()
    pii = container.pii()

    usage = _run(container, lambda: stored_key_usage(container.engine(), pii))
    for key_id in pii.cipher.key_ids:
        role = "current" if key_id == pii.cipher.current_key_id else "decrypt only"
        typer.echo(f"{key_id}\t{usage.pop(key_id, 0)}\t{role}")
    for key_id, count in sorted(usage.items()):
        typer.echo(f"{key_id}\t{count}\t{'NOT SEALED' if key_id == 'plaintext' else 'NOT IN KEYRING'}")


@applicants_app.command("find")
def find(
    email: Annotated[str | None, typer.Option(help="E-mail (case does not matter).")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone (spaces, +91 and a leading 0 do not "
                                                   "matter).")] = None,
    pan: Annotated[str | None, typer.Option(help="PAN.")] = None,
) -> None:
    """Print the user ids of applicants with this e-mail, phone or PAN (one option), one a line;
    exit 1 when there are none."""
    from application.pii import ContactKind

    given = [(k, v) for k, v in ((ContactKind.EMAIL, email), (ContactKind.PHONE, phone),
                                 (ContactKind.PAN, pan)) if v is not None]
    if len(given) != 1:
        typer.echo("error: give exactly one of --email, --phone, --pan", err=True)
        raise typer.Exit(USAGE_ERROR)
    (kind, value), = given
    container = _container()
    user_ids = _run(container, lambda: container.find_applicants().execute(kind, value))
    for user_id in user_ids:
        typer.echo(user_id)
    if not user_ids:
        raise typer.Exit(1)


def _container():
    from adapters.crypto.keys import KeyMaterialError
    from config.container import build_container
    from config.settings import InsecureConfiguration, Settings

    container = build_container(Settings())
    try:
        container.pii()
    except (InsecureConfiguration, KeyMaterialError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(USAGE_ERROR) from None
    return container


def _run(container, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work()`` to completion, then close the container's database pool."""
    async def run() -> T:
        try:
            return await work()
        finally:
            await container.engine().dispose()

    return asyncio.run(run())


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(applicants_app, name="applicants")
