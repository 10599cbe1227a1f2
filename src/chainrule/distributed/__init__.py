"""The MPI process group and its collectives, with PyTorch's names (``torch.distributed``).

Start K processes with ``mpiexec -n K python script.py`` (or ``chainrule train --nproc K``);
in each, ``init_process_group("mpi")`` joins the group. Every collective is one MPI call on
the tensor's own array (in place), so NumPy codes and chainrule share the same transport.
mpi4py is an optional extra, imported only here and only when used:
``pip install 'chainrule[distributed]'`` installs it with Open MPI (``mpiexec`` lands in the venv).

    >>> import chainrule.distributed as dist
    >>> dist.is_initialized()
    False
    >>> dist.get_world_size()   # outside a group: one process, rank 0
    1

Differences from PyTorch: only the "mpi" backend; ``all_reduce``, ``broadcast`` and
``barrier`` are synchronous (``async_op=True`` is refused); ``ReduceOp`` has SUM, AVG, MAX,
MIN and PRODUCT.
"""
from __future__ import annotations

import enum
import json
import os
import sys

import numpy as np

__all__ = ["ReduceOp", "init_process_group", "is_available", "is_initialized", "get_rank", "get_world_size",
           "all_reduce", "broadcast", "barrier", "all_gather_object", "broadcast_object_list",
           "destroy_process_group", "launched_under_mpi", "abort"]

INSTALL = "data-parallel training needs mpi4py and an MPI: pip install 'chainrule[distributed]'"
# environment variables an MPI launcher sets in every rank (Open MPI; MPICH and Intel MPI)
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE")
_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")


class ReduceOp(enum.Enum):
    """How ``all_reduce`` combines the ranks' values (PyTorch's ``dist.ReduceOp``)."""

    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


class _Group:
    comm = None          # the mpi4py communicator of the default group, None before init


def _mpi():
    """The mpi4py.MPI module (importing it initializes MPI), or one clear error."""
    try:
        import mpi4py
    except ImportError:
        raise ImportError(INSTALL) from None
    mpi4py.rc.threads = False          # one thread talks to MPI; fastest startup
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError) as e:  # mpi4py without a loadable MPI library
        raise ImportError(f"{INSTALL} ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return MPI


def launched_under_mpi() -> bool:
    """True in a process that an MPI launcher (mpiexec, mpirun, srun) started as one of more than one ranks."""
    for v in _SIZE_VARS:
        try:
            if int(os.environ.get(v, "1")) > 1:
                return True
        except ValueError:
            pass
    return False


def is_available() -> bool:
    """True when mpi4py and an MPI library can be imported."""
    try:
        _mpi()
    except ImportError:
        return False
    return True


def init_process_group(backend: str = "mpi", init_method=None, world_size: int = -1, rank: int = -1,
                       timeout=None) -> None:
    """Join the default process group: every process that ``mpiexec`` started (MPI_COMM_WORLD).

    Args:
        backend (str, "mpi"): the only backend.
        init_method, timeout: accepted for PyTorch compatibility and ignored (MPI knows its peers).
        world_size (int, -1), rank (int, -1): if given, must agree with what mpiexec assigned.
    """
    if str(backend).lower() != "mpi":
        raise ValueError(f"init_process_group: backend {backend!r} is not supported; chainrule has only 'mpi'")
    if _Group.comm is not None:
        raise RuntimeError("init_process_group: the default process group is already initialized; "
                           "call destroy_process_group() first")
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()
    # a failing collective raises a Python exception instead of aborting silently
    comm.Set_errhandler(MPI.ERRORS_RETURN)
    if world_size not in (-1, None) and world_size != comm.Get_size():
        raise ValueError(f"init_process_group: world_size={world_size} but mpiexec started {comm.Get_size()} processes")
    if rank not in (-1, None) and rank != comm.Get_rank():
        raise ValueError(f"init_process_group: rank={rank} but MPI assigned rank {comm.Get_rank()}")
    _Group.comm = comm


def is_initialized() -> bool:
    """True between ``init_process_group()`` and ``destroy_process_group()``."""
    return _Group.comm is not None


def _comm():
    if _Group.comm is None:
        raise RuntimeError("the default process group is not initialized; call "
                           "chainrule.distributed.init_process_group('mpi') first (under mpiexec)")
    return _Group.comm


def get_rank(group=None) -> int:
    """This process's rank in the group, 0..world_size-1 (0 outside a group)."""
    return _Group.comm.Get_rank() if _Group.comm is not None else 0


def get_world_size(group=None) -> int:
    """How many processes the group has (1 outside a group)."""
    return _Group.comm.Get_size() if _Group.comm is not None else 1


def _array(tensor, name: str):
    a = tensor if isinstance(tensor, np.ndarray) else getattr(tensor, "_data", None)
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a Tensor or an ndarray, got {type(tensor).__name__}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name}: the tensor's array must be C-contiguous (got strides {a.strides} for shape "
                         f"{a.shape}); pass tensor.contiguous() or np.ascontiguousarray")
    if not a.flags.writeable:
        raise ValueError(f"{name}: the tensor's array is read-only")
    return a


def _no_async(name, async_op):
    if async_op:
        raise ValueError(f"{name}: async_op=True is not supported; the MPI collectives here are synchronous")


def all_reduce(tensor, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False) -> None:
    """Combine ``tensor`` across all ranks with ``op``, in place: afterwards every rank holds the result.

    Args:
        tensor (Tensor or ndarray): C-contiguous; its array is overwritten.
        op (ReduceOp, SUM): SUM, AVG (sum / world size), MAX, MIN, PRODUCT.
    """
    _no_async("all_reduce", async_op)
    a = _array(tensor, "all_reduce")
    comm = _comm()
    if not isinstance(op, ReduceOp):
        raise ValueError(f"all_reduce: op must be a ReduceOp (SUM, AVG, MAX, MIN, PRODUCT), got {op!r}")
    MPI = _mpi()
    mpi_op = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX, ReduceOp.MIN: MPI.MIN,
              ReduceOp.PRODUCT: MPI.PROD}[op]
    if a.ndim == 0:                 # a 0-d array is a 1-element buffer
        a = a.reshape(1)
    comm.Allreduce(MPI.IN_PLACE, a, op=mpi_op)
    if op is ReduceOp.AVG:
        if a.dtype.kind != "f":
            raise TypeError(f"all_reduce: AVG needs a float tensor, got {a.dtype}")
        a /= comm.Get_size()


def broadcast(tensor, src: int = 0, group=None, async_op: bool = False) -> None:
    """Copy rank ``src``'s ``tensor`` into every other rank's ``tensor`` (same shape and dtype), in place."""
    _no_async("broadcast", async_op)
    a = _array(tensor, "broadcast")
    comm = _comm()
    if not 0 <= src < comm.Get_size():
        raise ValueError(f"broadcast: src={src} is not a rank of a group of {comm.Get_size()}")
    comm.Bcast(a.reshape(1) if a.ndim == 0 else a, root=src)


def barrier(group=None, async_op: bool = False) -> None:
    """Wait until every rank has reached this call."""
    _no_async("barrier", async_op)
    _comm().Barrier()


def all_gather_object(object_list: list, obj, group=None) -> None:
    """Fill ``object_list`` (length world_size) with every rank's ``obj``, in rank order.

    Objects travel as JSON (so: dicts, lists, strings, numbers, booleans, None), never pickled.
    """
    comm = _comm()
    if len(object_list) != comm.Get_size():
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} slots for {comm.Get_size()} ranks")
    object_list[:] = [json.loads(t) for t in _allgather_bytes(comm, json.dumps(obj, sort_keys=True).encode())]


def broadcast_object_list(object_list: list, src: int = 0, group=None) -> None:
    """Replace every rank's ``object_list`` items by rank ``src``'s (JSON-able objects, never pickled)."""
    comm = _comm()
    data = json.dumps(list(object_list)).encode() if comm.Get_rank() == src else b""
    n = np.array([len(data)], dtype=np.int64)
    comm.Bcast(n, root=src)
    buf = np.frombuffer(data, dtype=np.uint8).copy() if comm.Get_rank() == src else np.empty(int(n[0]), np.uint8)
    comm.Bcast(buf, root=src)
    object_list[:] = json.loads(buf.tobytes())


def _allgather_bytes(comm, data: bytes) -> list:
    """Every rank's bytes, in rank order (two MPI calls: the lengths, then Allgatherv)."""
    sizes = np.empty(comm.Get_size(), dtype=np.int64)
    comm.Allgather(np.array([len(data)], dtype=np.int64), sizes)
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    comm.Allgatherv(np.frombuffer(data, dtype=np.uint8), [out, sizes.tolist()])
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    return [out[offsets[i]:offsets[i + 1]].tobytes() for i in range(len(sizes))]


def destroy_process_group(group=None) -> None:
    """Leave the default group (MPI itself is finalized when the process exits)."""
    if _Group.comm is not None:
        comm, _Group.comm = _Group.comm, None
        comm.Free()


def abort(code: int = 1) -> None:
    """End every rank of the job now (MPI_Abort): the way out when this rank cannot go on
    and the others would otherwise wait for it forever in a collective."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        # a rank that fails before MPI started must still start it: the launcher tears the job
        # down cleanly only for ranks it knows
        _mpi().COMM_WORLD.Abort(code)
    finally:
        os._exit(code)
