from .torch_model import STFPM

__all__ = ["STFPM"]
