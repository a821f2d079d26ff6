"""Signing a bulk batch's credentials on every core.

Issuing is CPU-bound: canonicalizing a credential (RDFC-1.0) and signing it in both forms
costs about a millisecond, writing it to the database a fraction of that. A worker holding a
bulk job therefore hands the signing of each batch to a pool of processes, one per core
(``TESSERA_SIGNING_PROCESSES``), and writes the results itself, in the batch's transaction.

The pool's processes start with "spawn", a clean interpreter: the worker runs threads, which
"fork" does not copy safely. The batch's two private keys reach them through the pool's pipe,
as PKCS#8 bytes, never through a file or an environment variable; a pool process keeps the
few it was sent last in memory, as the worker itself does, and nowhere else. Signing is
deterministic, so a credential signed in the pool is byte for byte the one the worker would
have signed itself.
"""

from __future__ import annotations

import atexit
import json
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization

from credentials import CredentialError
from credentials.proofs import data_integrity, jwt_vc
from keys.crypto import LocalSigner

log = logging.getLogger(__name__)

#: Fewer credentials than this are signed in the worker itself: the pipe would cost more.
MIN_POOLED = 16


@dataclass(frozen=True, slots=True)
class Signed:
    """One credential in both signed forms, or why it could not be signed."""

    document: str | None  # JSON with the embedded Data Integrity proof
    token: str | None  # the VC-JWT
    refused: str | None = None


def sign(
    unsigned: dict[str, Any], di_signer: LocalSigner, jwt_signer: LocalSigner, created: datetime
) -> tuple[str, str]:
    """Both signed forms of one credential: the JSON with its proof, and the VC-JWT.

    Raises:
        CredentialError: the credential cannot be canonicalized or signed.
    """
    proof = data_integrity.create_proof(unsigned, di_signer, created=created)
    token = jwt_vc.encode_vc_jwt(unsigned, jwt_signer)
    # A shallow copy with the proof (``unsigned`` is left as it is): add_proof's deep copy
    # would cost as much as the signature.
    return json.dumps(unsigned | {"proof": [proof]}, ensure_ascii=False), token


def _signed(
    unsigned: dict[str, Any], di_signer: LocalSigner, jwt_signer: LocalSigner, created: datetime
) -> Signed:
    try:
        return Signed(*sign(unsigned, di_signer, jwt_signer, created))
    except (CredentialError, ValueError) as e:
        return Signed(None, None, str(e) or e.__class__.__name__)


def sign_all(
    unsigned: Sequence[dict[str, Any]],
    di_signer: LocalSigner,
    jwt_signer: LocalSigner,
    created: datetime,
) -> list[Signed]:
    """Sign a batch, in the pool when there is one and the batch is worth sending.

    A credential that cannot be signed is refused alone (``Signed.refused``).
    """
    pool = _pool()
    if pool is None or len(unsigned) < MIN_POOLED:
        return [_signed(u, di_signer, jwt_signer, created) for u in unsigned]
    keys = (_portable(di_signer), _portable(jwt_signer))
    share = -(-len(unsigned) // _processes)  # one chunk per process
    chunks = [list(unsigned[i : i + share]) for i in range(0, len(unsigned), share)]
    try:
        futures = [pool.submit(_sign_chunk, chunk, keys, created) for chunk in chunks]
        return [signed for future in futures for signed in future.result()]
    except BrokenProcessPool:
        # A pool process died (killed, out of memory): sign here, and start a new pool next
        # time. Nothing was written yet, so nothing is lost.
        log.warning("a signing process died; signing this batch in the worker itself")
        _discard(pool)
        return [_signed(u, di_signer, jwt_signer, created) for u in unsigned]


def configure(processes: int | None) -> None:
    """How many signing processes bulk workers use (``None``: one per core; 1: none)."""
    global _processes
    wanted = processes or os.cpu_count() or 1
    with _lock:
        if wanted != _processes and _executor is not None:
            _discard(_executor)
        _processes = wanted


def warm() -> None:
    """Start the pool's processes now, so that the first batch does not wait for them."""
    pool = _pool()
    if pool is not None:
        for future in [pool.submit(int) for _ in range(_processes)]:
            future.result()


# -- the pool -------------------------------------------------------------------------------

_lock = threading.Lock()
_processes = 1
_executor: Executor | None = None


def _pool() -> Executor | None:
    global _executor
    if _processes < 2:
        return None
    with _lock:
        if _executor is None:
            _executor = ProcessPoolExecutor(
                _processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_watch_parent,
                initargs=(os.getpid(),),
            )
        return _executor


def _discard(pool: Executor) -> None:
    global _executor
    if _executor is pool:
        _executor = None
    pool.shutdown(wait=False, cancel_futures=True)


@atexit.register
def _shutdown() -> None:
    if _executor is not None:
        _executor.shutdown(wait=False, cancel_futures=True)


def _watch_parent(parent: int) -> None:
    """In a pool process: exit when the worker is gone, even when it was killed outright.

    A pool process holds both ends of its task queue's pipe, so it would never see the pipe
    close; asking the kernel to signal it (PR_SET_PDEATHSIG) would fire when the *thread*
    that started the pool ends, not the worker. Looking at the parent's pid is what's left.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="tessera-signing-watch", daemon=True).start()


_PortableKey = tuple[str, str, bytes]


def _portable(signer: LocalSigner) -> _PortableKey:
    """A signer as the pipe carries it: verification method, algorithm, PKCS#8 DER."""
    der = signer._private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return signer.verification_method, signer.algorithm, der


def _signer(portable: _PortableKey) -> LocalSigner:
    """The signer, loaded once per pool process: loading an RSA key costs 50 ms (it is checked)."""
    found = _loaded.get(portable)
    if found is None:
        method, algorithm, der = portable
        key = serialization.load_der_private_key(der, password=None)
        found = LocalSigner(method, algorithm, key)  # type: ignore[arg-type]
        if len(_loaded) >= 8:  # the keys of the centres whose jobs came last
            _loaded.pop(next(iter(_loaded)))
        _loaded[portable] = found
    return found


#: In a pool process: the signers it was sent, by what was sent (the worker's own ``Signers``
#: holds the same keys for as long).
_loaded: dict[_PortableKey, LocalSigner] = {}


def _sign_chunk(
    chunk: list[dict[str, Any]], keys: tuple[_PortableKey, _PortableKey], created: datetime
) -> list[Signed]:
    """In a pool process: sign a chunk of the batch with the batch's keys."""
    di_signer, jwt_signer = _signer(keys[0]), _signer(keys[1])
    return [_signed(unsigned, di_signer, jwt_signer, created) for unsigned in chunk]
