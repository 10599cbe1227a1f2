"""PyTorch parity of the small top-level queries and switches: is_floating_point, is_nonzero,
result_type, promote_types, can_cast, seed, initial_seed, set_num_threads, get_num_threads."""
import numpy as np
import pytest
import torch

import chainrule as cr

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def both(name):
    return getattr(torch, name), getattr(cr, name)


@pytest.mark.parametrize("a", DTYPES)
def test_promote_types_and_can_cast_follow_torchs_table(a):
    for b in DTYPES:
        ta, tb, ca, cb = getattr(torch, a), getattr(torch, b), getattr(cr, a), getattr(cr, b)
        assert str(cr.promote_types(ca, cb)) == str(torch.promote_types(ta, tb)).replace("torch.", "")
        assert cr.can_cast(ca, cb) == torch.can_cast(ta, tb), (a, b)


def test_result_type_counts_numbers_and_0_d_tensors_by_category():
    cases = [(lambda L: L.ones(2, dtype=L.int32), 2.5), (lambda L: L.ones(2), lambda L: L.ones(2, dtype=L.float64)),
             (2, 3.0), (lambda L: L.ones(2, dtype=L.int8), lambda L: L.tensor(5)),
             (lambda L: L.ones(2, dtype=L.float16), lambda L: L.tensor(1.0, dtype=L.float64)), (True, 1)]
    for a, b in cases:
        t = torch.result_type(a(torch) if callable(a) else a, b(torch) if callable(b) else b)
        c = cr.result_type(a(cr) if callable(a) else a, b(cr) if callable(b) else b)
        assert str(c) == str(t).replace("torch.", "")


def test_is_floating_point_and_is_nonzero():
    for lib in (torch, cr):
        assert lib.is_floating_point(lib.ones(2)) and not lib.is_floating_point(lib.ones(2, dtype=lib.int32))
        assert lib.is_nonzero(lib.tensor([2.0])) and not lib.is_nonzero(lib.tensor(0))
        with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
            lib.is_nonzero(lib.ones(2))
        with pytest.raises(RuntimeError, match="no values is ambiguous"):
            lib.is_nonzero(lib.ones(0))
        with pytest.raises(TypeError, match="must be Tensor, not float"):
            lib.is_floating_point(3.0)
    assert cr.ones(2).is_floating_point()


def test_seed_and_initial_seed():
    cr.manual_seed(123)
    assert cr.initial_seed() == 123
    s = cr.seed()
    assert isinstance(s, int) and s >= 0 and cr.initial_seed() == s
    a = cr.randn(3).numpy()
    cr.manual_seed(s)
    np.testing.assert_array_equal(cr.randn(3).numpy(), a)   # seed() seeded the stream with s
    assert cr.seed() != s


def test_set_num_threads_limits_the_blas_threads():
    before = cr.get_num_threads()
    try:
        cr.set_num_threads(1)
        assert cr.get_num_threads() == 1
    finally:
        cr.set_num_threads(before)
    for lib in (torch, cr):
        with pytest.raises((RuntimeError, ValueError), match="positive integer"):
            lib.set_num_threads(0)
