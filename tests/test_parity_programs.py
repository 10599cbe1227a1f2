"""What public PyTorch programs (README's "Public programs tried") needed, each checked against
PyTorch through the public API: values, gradients and float64 gradchecks."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
from chainrule.nn import functional as F
from oracle import check_op


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_index_select_with_repeated_indices_adds_their_gradients(dim):
    x = np.random.default_rng(0).standard_normal((3, 5, 4))
    n = x.shape[dim]
    idx = np.array([n - 1, 0, n - 1, 1, 0, n - 1])
    check_op(lambda a: cr.index_select(a, dim, cr.tensor(idx)), lambda a: torch.index_select(a, dim, torch.tensor(idx)),
             [x])


def test_reflection_padding_gradient_as_fast_neural_styles_conv_layers_use_it():
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 5))
    check_op(lambda a: F.pad(a, (4, 4, 3, 2), mode="reflect"), lambda a: TF.pad(a, (4, 4, 3, 2), mode="reflect"), [x])


def test_gather_with_repeated_indices_adds_their_gradients():
    x = np.random.default_rng(2).standard_normal((3, 4))
    idx = np.array([[0, 0, 3], [2, 2, 2], [1, 3, 1]])
    check_op(lambda a: cr.gather(a, 1, cr.tensor(idx)), lambda a: torch.gather(a, 1, torch.tensor(idx)), [x])


@pytest.mark.parametrize("n", [1, 5, 6, 7, 12])
def test_keywords_that_would_pass_the_line_width_go_on_a_new_line_as_pytorch_prints_them(n):
    # the char-RNN tutorial prints a (1, 6) log-softmax output with its grad_fn
    a = np.random.default_rng(3).standard_normal((1, n)).astype(np.float32)
    t, tt = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    assert repr(t) == repr(tt)
    assert repr(F.log_softmax(t, dim=1)) == repr(TF.log_softmax(tt, dim=1))
