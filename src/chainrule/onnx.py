"""``chainrule.onnx``: PyTorch's ``torch.onnx`` name, so that a program that imports it (to export
only when asked, as pytorch/examples' word_language_model does) runs; exporting raises.

    >>> import chainrule as cr
    >>> cr.onnx.export(cr.nn.Linear(2, 1), cr.ones(1, 2), "model.onnx")
    Traceback (most recent call last):
    ...
    NotImplementedError: onnx.export: chainrule does not export ONNX graphs (docs/pytorch.md); save the model's state_dict() with chainrule.save instead
"""


def export(model, args=(), f=None, *rest, **kwargs):
    """Refuses in one line: chainrule has no ONNX exporter."""
    raise NotImplementedError("onnx.export: chainrule does not export ONNX graphs (docs/pytorch.md); save the "
                              "model's state_dict() with chainrule.save instead")


def is_in_onnx_export() -> bool:
    """False: chainrule never exports."""
    return False
