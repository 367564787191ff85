from .torch_model import DFM

__all__ = ["DFM"]
