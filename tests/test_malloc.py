"""chainrule keeps freed array memory for reuse (chainrule._malloc): a step that allocates and frees the
same large arrays again and again must not page-fault them in each time. Counted with the kernel's
minor-fault counter in fresh processes, with the tuning on (the default) and off."""
import json
import os
import subprocess
import sys

import pytest

PROBE = r"""
import json, resource
import numpy as np
import chainrule, chainrule._malloc as m
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def step():                           # a step's pattern: three 16 MiB arrays alive at once, then freed
    a, b, c = np.ones(2 << 20), np.ones(2 << 20), np.ones(2 << 20)
    del a, b, c
step()
before = faults()
for _ in range(10):
    step()
print(json.dumps({"faults": faults() - before, "tuned": m.tuned}))
"""


def run(env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_arrays_are_reused_without_page_faults():
    on, off = run({}), run({"CHAINRULE_MALLOC": "default"})
    assert on["tuned"] and not off["tuned"]
    # 10 steps x 48 MiB are 122,880 pages: glibc by default trims part of the freed heap each step and
    # faults it in again (about 15,000 pages here); tuned, it keeps them (0 here)
    assert off["faults"] > 5_000, off
    assert on["faults"] < off["faults"] / 10, (on, off)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_a_users_own_glibc_setting_is_left_alone():
    assert not run({"MALLOC_TRIM_THRESHOLD_": "131072"})["tuned"]
