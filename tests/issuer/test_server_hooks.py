"""The gunicorn worker hooks (issuer/gunicorn_conf.py and `tessera serve`) and garbage collection.

After its hooks, a worker keeps the app it loaded out of garbage collection: a full
collection that walks the app's ~180,000 objects stalls every request of the worker for
45-110 ms (docs/performance.md). What requests create must still be collected.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask

from issuer import gunicorn_conf, migrate
from issuer.app import create_app
from issuer.cli import _worker_hooks

from ..conftest import app_config


@pytest.fixture
def worker_app(tmp_path: Path) -> Iterator[Flask]:
    """An app with a database of its own: the hooks start a real job consumer on it."""
    app = create_app(app_config(tmp_path / "instance", f"sqlite:///{tmp_path / 'tessera.db'}"))
    migrate.upgrade(app.extensions["tessera.engine"])
    yield app
    app.extensions["tessera.engine"].dispose()


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    """Each test starts and ends with nothing frozen in this (the test) process."""
    gc.unfreeze()
    yield
    gc.unfreeze()


class _Node:
    """Something a request could leave behind in a reference cycle."""

    itself: _Node


def _tracked(thing: object) -> bool:
    """Whether a full garbage collection would walk ``thing``."""
    return any(candidate is thing for candidate in gc.get_objects())


def _production_hooks(app: Flask) -> tuple[Callable[[], None], Callable[[], None]]:
    worker = SimpleNamespace(wsgi=app, cfg=SimpleNamespace(preload_app=True))
    return (
        lambda: gunicorn_conf.post_worker_init(worker),
        lambda: gunicorn_conf.worker_exit(None, worker),
    )


def _serve_hooks(app: Flask) -> tuple[Callable[[], None], Callable[[], None]]:
    hooks = _worker_hooks(app)
    return (lambda: hooks["post_fork"](None, None), lambda: hooks["worker_exit"](None, None))


@pytest.mark.parametrize("hooks", [_production_hooks, _serve_hooks], ids=["gunicorn_conf", "serve"])
def test_a_started_worker_leaves_its_app_out_of_garbage_collection(
    worker_app: Flask,
    hooks: Callable[[Flask], tuple[Callable[[], None], Callable[[], None]]],
) -> None:
    start, stop = hooks(worker_app)
    assert _tracked(worker_app)
    start()
    try:
        assert not _tracked(worker_app), "the loaded app is still walked by every collection"
        assert not _tracked(worker_app.config)
        # A request's garbage (here a reference cycle made after start-up) is still freed.
        cycle = _Node()
        cycle.itself = cycle
        freed = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert freed() is None, "a reference cycle made after start-up was not collected"
    finally:
        stop()
