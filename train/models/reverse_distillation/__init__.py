from .torch_model import ReverseDistillation

__all__ = ["ReverseDistillation"]
