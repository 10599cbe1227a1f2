"""Networks: Module, Parameter, layers, activations, losses, init and functional (PyTorch's names)."""
from chainrule.nn import functional, init, utils  # noqa: F401
from chainrule.nn.layers import (ELU, GELU, MLP, Bilinear, CosineSimilarity, Dropout, Flatten, Identity,  # noqa: F401
                                 LazyLinear, LeakyReLU, Linear, PairwiseDistance, ReLU, RReLU, Sigmoid, SiLU,
                                 Softplus, Tanh, Unflatten)
from chainrule.nn.conv import (Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d,  # noqa: F401
                               ConvTranspose3d, LazyConv1d, LazyConv2d, LazyConv3d, LazyConvTranspose1d,
                               LazyConvTranspose2d, LazyConvTranspose3d)
from chainrule.nn.dropout import AlphaDropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout  # noqa: F401
from chainrule.nn.normalization import (BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm,  # noqa: F401
                                        InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LayerNorm,
                                        LocalResponseNorm, RMSNorm)
from chainrule.nn.padding import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d,  # noqa: F401
                                  ConstantPad2d, ConstantPad3d, ReflectionPad1d, ReflectionPad2d,
                                  ReflectionPad3d, ReplicationPad1d, ReplicationPad2d, ReplicationPad3d,
                                  ZeroPad1d, ZeroPad2d, ZeroPad3d)
from chainrule.nn.pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d,  # noqa: F401
                                   AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d, AvgPool1d,
                                   AvgPool2d, AvgPool3d, LPPool1d, LPPool2d, LPPool3d, MaxPool1d, MaxPool2d,
                                   MaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d)
from chainrule.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: F401
from chainrule.nn.sparse import Embedding, EmbeddingBag  # noqa: F401
from chainrule.nn.transformer import (MultiheadAttention, Transformer, TransformerDecoder,  # noqa: F401
                                     TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer)
from chainrule.nn.upsampling import (ChannelShuffle, PixelShuffle, PixelUnshuffle, Upsample,  # noqa: F401
                                     UpsamplingBilinear2d, UpsamplingNearest2d)
from chainrule.nn.fold import Fold, Unfold  # noqa: F401
from chainrule.nn.loss import (BCEWithLogitsLoss, CrossEntropyLoss, MSELoss,  # noqa: F401
                               MulticlassSVMLoss, NLLLoss)
from chainrule.nn.loss import BCELoss, HuberLoss, L1Loss, SmoothL1Loss  # noqa: F401
from chainrule.nn.loss import (CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss,  # noqa: F401
                               KLDivLoss, MarginRankingLoss, MultiLabelMarginLoss, MultiLabelSoftMarginLoss,
                               MultiMarginLoss, PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss,
                               TripletMarginWithDistanceLoss)
from chainrule.nn.activation import Hardtanh, LogSigmoid, LogSoftmax, ReLU6, Softmax  # noqa: F401
from chainrule.nn.activation import (CELU, GLU, SELU, Hardshrink, Hardsigmoid, Hardswish, Mish,  # noqa: F401
                                     PReLU, Softmax2d, Softmin, Softshrink, Softsign, Tanhshrink, Threshold)
from chainrule.nn.containers import ModuleDict, ModuleList, ParameterDict, ParameterList  # noqa: F401
from chainrule.nn.module import Module, Parameter, Sequential, UninitializedParameter  # noqa: F401
from chainrule.nn import parallel  # noqa: F401,E402


from chainrule._missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("chainrule.nn", "torch.nn", globals())
