"""Functional forms of layers and losses (``chainrule.nn.functional``, PyTorch's names).

Losses take raw scores (logits) of shape (N, C) and integer class labels of shape (N,).

The functions live in modules named by what they compute and are all re-exported here, private
helpers too (other modules and tests use ``F._ntuple``, ``F._legacy``, ``F._float_mask``):
:mod:`.activation`, :mod:`.linear_conv` (linear, bilinear, convolutions, unfold/fold),
:mod:`.pooling`, :mod:`.normalization`, :mod:`.dropouts`, :mod:`.sparse` (embedding, one_hot),
:mod:`.vision` (interpolate, grid_sample, pixel_shuffle, pad), :mod:`.attention`, :mod:`.distance`,
:mod:`.loss`, :mod:`.margin_loss`, and :mod:`._common` (argument helpers of conv and pooling).
"""
from __future__ import annotations

# the names this module held before it became a package (F.np, F.ops, F.Tensor...): kept
import math  # noqa: F401
import warnings  # noqa: F401

import numpy as np  # noqa: F401

from chainrule import creation, dtypes, ops  # noqa: F401
from chainrule.core import DtypeError, ShapeError, make, no_grad, shape_constant  # noqa: F401
from chainrule.ops import inplace as _inplace  # noqa: F401
from chainrule.ops.convert import as_tensor, float_input, floats, promote  # noqa: F401
from chainrule.rules.attention import ScaledDotProductAttention  # noqa: F401
from chainrule.rules.elementwise import Hardtanh, LogSigmoid  # noqa: F401
from chainrule.rules.linalg import Linear  # noqa: F401
from chainrule.rules.loss import NLL, BCEWithLogits, BinaryCrossEntropy, CrossEntropy, MulticlassSVM  # noqa: F401
from chainrule.random import dropout_mask  # noqa: F401
from chainrule.rules import conv as _conv, dropout as _dropout, embedding as _embedding, index as _index  # noqa: F401
from chainrule.rules import norm as _norm, pool as _pool, sample as _sample  # noqa: F401
from chainrule.tensor import Tensor  # noqa: F401

from chainrule.nn.functional.activation import (celu, celu_, elu, elu_, gelu, glu,  # noqa: F401
                                                gumbel_softmax, hardshrink, hardsigmoid, hardswish, hardtanh,
                                                hardtanh_, leaky_relu, leaky_relu_, log_softmax, logsigmoid,
                                                mish, prelu, relu, relu6, relu_, rrelu, rrelu_, selu, selu_,
                                                sigmoid, silu, softmax, softmin, softplus, softshrink,
                                                softsign, tanh, tanhshrink, threshold, threshold_,
                                                _activation_, _check_celu_alpha, _check_lambd,
                                                _check_rrelu_bounds, _SELU_ALPHA, _SELU_SCALE, _softmax_dim,
                                                _thresholded)
from chainrule.nn.functional.linear_conv import (bilinear, conv1d, conv2d, conv3d,  # noqa: F401
                                                 conv_transpose1d, conv_transpose2d, conv_transpose3d, fold,
                                                 linear, unfold, _block_index, _conv_padding, _conv_transpose,
                                                 _convnd, _fold_args, _KERNEL_NAMES)
from chainrule.nn.functional.pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d,  # noqa: F401
                                             adaptive_avg_pool3d, adaptive_max_pool1d,
                                             adaptive_max_pool1d_with_indices, adaptive_max_pool2d,
                                             adaptive_max_pool2d_with_indices, adaptive_max_pool3d,
                                             adaptive_max_pool3d_with_indices, avg_pool1d, avg_pool2d,
                                             avg_pool3d, lp_pool1d, lp_pool2d, lp_pool3d, max_pool1d,
                                             max_pool1d_with_indices, max_pool2d, max_pool2d_with_indices,
                                             max_pool3d, max_pool3d_with_indices, max_unpool1d, max_unpool2d,
                                             max_unpool3d, _adaptive_avg, _adaptive_max, _adaptive_size,
                                             _avg_pool, _lp_pool, _max_pool, _max_unpool, _max_with_indices,
                                             _pool_args, _pool_out)
from chainrule.nn.functional.normalization import (as_normalized_shape, batch_norm, group_norm,  # noqa: F401
                                                   instance_norm, layer_norm, local_response_norm, normalize,
                                                   rms_norm, _affine, _buffer_array, _channel_param,
                                                   _last_axes, _standardize)
from chainrule.nn.functional.dropouts import (alpha_dropout, dropout, dropout1d, dropout2d,  # noqa: F401
                                              dropout3d, feature_alpha_dropout, _alpha_masked, _check_p,
                                              _feature_dropout, _masked, _SELU_SATURATION)
from chainrule.nn.functional.sparse import (embedding, embedding_bag, one_hot, _bag_starts,  # noqa: F401
                                            _indices, _renorm_rows_, _table)
from chainrule.nn.functional.vision import (affine_grid, channel_shuffle, grid_sample,  # noqa: F401
                                            interpolate, pad, pixel_shuffle, pixel_unshuffle, upsample,
                                            upsample_bilinear, upsample_nearest, _ALIGN_CORNERS_DEFAULT,
                                            _base_grid, _deprecated_upsample, _INTERP_MODES, _INTERP_RANK,
                                            _interp_sizes, _linear_taps, _nearest_index, _PAD_MODES,
                                            _shuffle_input)
from chainrule.nn.functional.attention import (multi_head_attention_forward,  # noqa: F401
                                               scaled_dot_product_attention, _float_mask, _mask_dtype)
from chainrule.nn.functional.distance import cosine_similarity, pairwise_distance, pdist  # noqa: F401
from chainrule.nn.functional.loss import (binary_cross_entropy,  # noqa: F401
                                          binary_cross_entropy_with_logits, cross_entropy, gaussian_nll_loss,
                                          huber_loss, kl_div, l1_loss, l2_penalty, mse_loss, nll_loss,
                                          poisson_nll_loss, smooth_l1_loss, _as_rows, _class_weight, _kept,
                                          _label_rows, _labels, _legacy, _pair, _picked, _reduce, _REDUCTIONS,
                                          _weight_tensor)
from chainrule.nn.functional.margin_loss import (cosine_embedding_loss, hinge_embedding_loss,  # noqa: F401
                                                 margin_ranking_loss, multi_margin_loss,
                                                 multilabel_margin_loss, multilabel_soft_margin_loss,
                                                 soft_margin_loss, svm_loss, triplet_margin_loss,
                                                 triplet_margin_with_distance_loss, _check_classification)
from chainrule.nn.functional._common import _ntuple, _spatial_input  # noqa: F401

from chainrule._missing import missing_names as _missing_names

__getattr__ = _missing_names("chainrule.nn.functional", "torch.nn.functional", globals())
