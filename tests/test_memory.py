"""chainrule keeps freed heap memory for the next step (glibc's malloc tuned at import), unless told not to."""
import platform
import sys

import pytest

from chainrule.core import memory


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc only")
def test_keep_freed_memory_tunes_glibc():
    assert memory.keep_freed_memory() is True


def test_the_import_leaves_malloc_alone_when_asked(monkeypatch):
    monkeypatch.setenv("CHAINRULE_KEEP_FREED_MEMORY", "0")
    assert memory.tune_on_import() is False
