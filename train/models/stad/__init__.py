from .torch_model import STAD

__all__ = ["STAD"]
