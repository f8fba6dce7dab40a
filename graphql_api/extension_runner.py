"""Strawberry's extension hooks, wrapped once per extension class instead of on every request.

For every request and every stage (operation, parsing, validation, execution) Strawberry's
``SchemaExtensionsRunner`` looks at each extension's hook, checks with ``inspect`` what kind of
function it is and decorates it with ``contextlib.contextmanager`` (``functools.update_wrapper``
and all): 4 stages x 7 extensions per request, about a twentieth of the GraphQL layer's CPU.
What it decides depends on the extension's class only, so :class:`PlannedExtensionsRunner`
decides it once per class and stage and keeps the decorated function; per request it only
creates the context managers, exactly the ones Strawberry creates (``contextmanager(hook)``
called with the extension is ``contextmanager(bound hook)`` called without), and enters and
exits them with the same exit stacks in the same order. Hooks, their order, exceptions thrown
into them and the results are unchanged; ``on_stream_result`` (subscriptions) stays
Strawberry's own.

``get_extensions_results`` skips the extensions that do not override ``get_results`` (theirs
returns ``{}``).

One deliberate difference: when a hook raises on entry (``DocumentSetup`` refusing a persisted
query: ``PERSISTED_QUERY_NOT_FOUND`` is the APQ protocol's normal first answer), the hooks
entered before it are exited with that exception, as a ``with`` statement would. Strawberry's
runner leaves them suspended until the garbage collector closes them, so ``GraphQLMetrics``
recorded a ``GeneratorExit`` at some later moment, counted as ``INTERNAL_SERVER_ERROR``: the
error the SLO alerts burn on (deploy/monitoring). Now it records the refusal's own code at once.
The answer is unchanged: the exception still leaves the stage and Strawberry answers it as
before.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from asyncio import iscoroutinefunction
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext
from strawberry.utils.await_maybe import await_maybe

# extension -> its context manager for one stage of one request
HookFactory = Callable[[SchemaExtension], Any]
_PLANS: dict[tuple[type, str], tuple[HookFactory, bool] | None] = {}


def _plan(cls: type[SchemaExtension], hook_name: str) -> tuple[HookFactory, bool] | None:
    """Strawberry's ``ExtensionContextManagerBase.get_hook``, for a class rather than an
    instance: the hook's context manager factory and whether it is asynchronous; None when the
    class keeps ``SchemaExtension``'s default (no hook)."""
    hook_fn = getattr(cls, hook_name)
    if hook_fn is getattr(SchemaExtension, hook_name):
        return None
    if inspect.isgeneratorfunction(hook_fn):
        return contextlib.contextmanager(hook_fn), False
    if inspect.isasyncgenfunction(hook_fn):
        return contextlib.asynccontextmanager(hook_fn), True
    if callable(hook_fn):
        return _from_callable(hook_fn)
    raise ValueError(f"Hook {hook_name} on {cls} must be callable, received {hook_fn!r}")


def _from_callable(func: Callable[[SchemaExtension], Any]) -> tuple[HookFactory, bool]:
    if iscoroutinefunction(func):
        @contextlib.asynccontextmanager
        async def async_hook(extension: SchemaExtension) -> AsyncIterator[None]:
            await func(extension)
            yield

        return async_hook, True

    @contextlib.contextmanager
    def hook(extension: SchemaExtension) -> Iterator[None]:
        func(extension)
        yield

    return hook, False


def _planned(cls: type[SchemaExtension], hook_name: str) -> tuple[HookFactory, bool] | None:
    key = (cls, hook_name)
    try:
        return _PLANS[key]
    except KeyError:
        plan = _PLANS[key] = _plan(cls, hook_name)
        return plan


class _Stage:
    """One stage's hooks for one request: Strawberry's ``ExtensionContextManagerBase``."""

    __slots__ = ("async_exit_stack", "exit_stack", "hook_name", "hooks")

    def __init__(self, extensions: list[SchemaExtension], hook_name: str) -> None:
        self.hook_name = hook_name
        self.hooks: list[tuple[HookFactory, bool, SchemaExtension]] = []
        for extension in extensions:
            plan = _planned(type(extension), hook_name)
            if plan is not None:
                self.hooks.append((plan[0], plan[1], extension))

    def __enter__(self) -> None:
        self.exit_stack = contextlib.ExitStack()
        self.exit_stack.__enter__()
        try:
            for factory, is_async, extension in self.hooks:
                if is_async:
                    raise RuntimeError(f"SchemaExtension hook {extension}.{self.hook_name} "
                                       "failed to complete synchronously.")
                self.exit_stack.enter_context(factory(extension))
        except BaseException:
            self.exit_stack.__exit__(*sys.exc_info())
            raise

    # Like Strawberry's, the exits return None: a hook that swallows an exception does not
    # stop it from propagating out of the stage.
    def __exit__(self, exc_type: type[BaseException] | None, exc_val: BaseException | None,
                 exc_tb: TracebackType | None) -> None:
        self.exit_stack.__exit__(exc_type, exc_val, exc_tb)

    async def __aenter__(self) -> None:
        self.async_exit_stack = contextlib.AsyncExitStack()
        await self.async_exit_stack.__aenter__()
        try:
            for factory, is_async, extension in self.hooks:
                if is_async:
                    await self.async_exit_stack.enter_async_context(factory(extension))
                else:
                    self.async_exit_stack.enter_context(factory(extension))
        except BaseException:
            await self.async_exit_stack.__aexit__(*sys.exc_info())
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_val: BaseException | None,
                        exc_tb: TracebackType | None) -> None:
        await self.async_exit_stack.__aexit__(exc_type, exc_val, exc_tb)


def _has_results(cls: type[SchemaExtension]) -> bool:
    return cls.get_results is not SchemaExtension.get_results


class PlannedExtensionsRunner(SchemaExtensionsRunner):
    def operation(self) -> Any:
        return _Stage(self.extensions, "on_operation")

    def validation(self) -> Any:
        return _Stage(self.extensions, "on_validate")

    def parsing(self) -> Any:
        return _Stage(self.extensions, "on_parse")

    def executing(self) -> Any:
        return _Stage(self.extensions, "on_execute")

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for extension in self.extensions:
            if _has_results(type(extension)):
                data.update(await await_maybe(extension.get_results()))
        data.update(ctx.extensions_results)
        return data
