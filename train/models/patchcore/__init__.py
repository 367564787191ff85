from .torch_model import PatchCore

__all__ = ["PatchCore"]
