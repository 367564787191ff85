"""PatchCore: "Towards Total Recall in Industrial Anomaly Detection", Roth et al., CVPR 2022 (arXiv 2106.08265).

Locally aware patch features from two mid-level stages, a greedy coreset memory bank, and a
nearest-neighbour score with the paper's reweighting (Eq. 7). The nearest bank row is found by a
GEMM (|M|^2 - 2 x M^T, |M|^2 precomputed and folded in as one more row) and an ArgMin rather than
cdist, so the exported graph has a dynamic batch and no TopK over the bank; the distance to that row
is then computed exactly, |x - m|^2 summed, so that it is exact where it is ~0.

Two options shrink the bank for edge devices (measured in docs/precision.md): ``bank_dtype="fp16"``
stores the bank as fp16 (half the bytes; it is cast to fp32 before the distance GEMM, so distances
are still computed in fp32), and ``bank_dim`` applies a seeded Gaussian random projection to the
patch features before the coreset and in the graph (fewer bytes and GEMM FLOPs, at a distance
distortion bounded by Johnson-Lindenstrauss).

``search_dim`` makes the search itself cheaper without touching the distance: the nearest row is looked up in
the top ``search_dim`` principal directions of the training patches (a GEMM ``search_dim / D`` the size), and
the distance to the row it picks is still measured in all D dimensions. A pick can only differ from the exact
one where two rows are nearly tied in the principal directions, and then the reported distance is the exact
distance to a row that is nearly as close (measured in docs/precision.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ...backbones import FeatureExtractor
from .. import register_model
from ..layers import concat_at_finest
from .coreset import greedy_coreset, nearest_in_bank, principal_directions, random_projection

BANK_DTYPES = {"fp32": torch.float32, "fp16": torch.float16}
SEARCH_BUFFERS = ("search_basis", "search_bank", "search_sq_norm")


@register_model("patchcore")
class PatchCore(nn.Module):
    default_layers = (2, 3)

    @dataclass
    class Options:
        coreset_ratio: float = field(
            default=0.01, metadata={"help": "fraction of training patches kept in the bank", "fraction": True}
        )
        num_neighbors: int = field(default=9, metadata={"help": "bank neighbours b that reweight the image score"})
        projection_dim: int = field(default=128, metadata={"help": "random projection size for coreset selection"})
        embed_dim: int | None = field(
            default=None, metadata={"help": "reduce patch features to this many channels (default: keep all)"}
        )
        bank_dtype: str = field(
            default="fp32",
            metadata={
                "help": "memory bank storage type; fp16 halves its bytes, distances stay fp32",
                "choices": tuple(BANK_DTYPES),
            },
        )
        search_dim: int | None = field(
            default=None,
            metadata={
                "help": "look up each patch's nearest bank row in this many principal directions of the training "
                "patches (a smaller kNN GEMM), then measure the distance to it in all dimensions; 0: search "
                "all dimensions",
                "minimum": 0,
            },
        )
        bank_dim: int | None = field(
            default=None,
            metadata={
                "help": "random-project patch features to this many dimensions before the coreset and in the "
                "graph: a smaller bank and kNN GEMM (default: no projection)"
            },
        )

    def __init__(self, backbone: FeatureExtractor, options: Options):
        super().__init__()
        if not 0.0 < options.coreset_ratio <= 1.0:
            raise ValueError(f"coreset_ratio must be in (0, 1], got {options.coreset_ratio}")
        if options.bank_dtype not in BANK_DTYPES:
            raise ValueError(f"bank_dtype must be one of {', '.join(BANK_DTYPES)}, got '{options.bank_dtype}'")
        if options.bank_dim is not None and options.bank_dim < 1:
            raise ValueError(f"bank_dim must be a positive number of dimensions, got {options.bank_dim}")
        self.backbone = backbone
        self.options = options
        dim = options.embed_dim or sum(backbone.channels)
        if options.bank_dim:
            # [D, bank_dim], drawn at fit time from the seeded generator; part of the graph
            self.register_buffer("projection", torch.zeros(dim, options.bank_dim))
            dim = options.bank_dim
        self.register_buffer("bank", torch.zeros(0, dim, dtype=BANK_DTYPES[options.bank_dtype]))
        self.register_buffer("bank_sq_norm", torch.zeros(0))
        # [D, search_dim] principal directions, and the bank and its squared norms in them; empty: search in all D
        self.register_buffer("search_basis", torch.zeros(dim, 0))
        self.register_buffer("search_bank", torch.zeros(0, 0))
        self.register_buffer("search_sq_norm", torch.zeros(0))
        self.register_buffer("support", torch.zeros(0, options.num_neighbors, dtype=torch.long))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Locally aware patch features [N, D, h, w] at the first stage's resolution."""
        # 3x3 neighbourhood aggregation (Eq. 2), then all stages at the finest resolution
        embedding = concat_at_finest(
            [F.avg_pool2d(f, kernel_size=3, stride=1, padding=1) for f in self.backbone(images)]
        )
        if self.options.embed_dim:
            n, c, h, w = embedding.shape
            flat = embedding.permute(0, 2, 3, 1).reshape(-1, 1, c)
            flat = F.adaptive_avg_pool1d(flat, self.options.embed_dim)
            embedding = flat.reshape(n, h, w, -1).permute(0, 3, 1, 2)
        if self.options.bank_dim:
            embedding = (embedding.permute(0, 2, 3, 1) @ self.projection).permute(0, 3, 1, 2)
        return embedding

    @torch.no_grad()
    def fit(self, batches: Iterable[torch.Tensor]) -> None:
        """Memory bank = coreset of all training patch features."""
        if self.options.bank_dim:
            self.projection = random_projection(*self.projection.shape).to(self.projection.device)
        patches = []
        for images in batches:
            emb = self.embed(images)
            patches.append(emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1]))
        features = torch.cat(patches)
        count = int(round(features.shape[0] * self.options.coreset_ratio))
        start = time.perf_counter()
        selected = greedy_coreset(features, count, self.options.projection_dim)
        coreset_seconds = time.perf_counter() - start
        # norms and neighbours of the bank as stored, so that an fp16 bank is self-consistent
        self.bank = features[selected].to(BANK_DTYPES[self.options.bank_dtype]).contiguous()
        bank = self.bank.float()
        self.bank_sq_norm = (bank * bank).sum(1)
        tqdm.write(
            f"memory bank: {bank.shape[0]} x {bank.shape[1]} ({self.options.bank_dtype}) "
            f"from {features.shape[0]} patches (coreset selection {coreset_seconds:.1f} s)"
        )
        self.support = nearest_in_bank(bank, self.options.num_neighbors)
        if self.options.search_dim and self.options.search_dim < bank.shape[1]:
            self.search_basis = principal_directions(features, self.options.search_dim)
            self.search_bank = bank @ self.search_basis
            self.search_sq_norm = (self.search_bank * self.search_bank).sum(1)
            tqdm.write(f"nearest-row search in {self.options.search_dim} of {bank.shape[1]} principal directions")
        elif self.options.search_dim:
            tqdm.write(
                f"--search-dim {self.options.search_dim}: the patches have only {bank.shape[1]} dimensions, "
                "so the search uses all of them"
            )

    def _load_from_state_dict(self, state: dict, prefix: str, *args: object) -> None:
        # a run saved before search_dim existed searched in all dimensions: keep its scores as they were
        if prefix + "search_basis" not in state:
            self.search_basis = self.search_basis.new_zeros(self.search_basis.shape[0], 0)
            self.search_bank = self.search_bank.new_zeros(0, 0)
            self.search_sq_norm = self.search_sq_norm.new_zeros(0)
            state.update({prefix + name: getattr(self, name) for name in SEARCH_BUFFERS})
            self.options.search_dim = None
        super()._load_from_state_dict(state, prefix, *args)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.embed(images)
        n, dim, h, w = embedding.shape
        patches = embedding.permute(0, 2, 3, 1).reshape(n, h * w, dim)
        flat = patches.reshape(n * h * w, dim)
        # The nearest bank row by one GEMM (|M|^2 - 2 x.M^T) and an ArgMin; then the distance to
        # that row exactly, |x - m|^2 summed, never |x|^2 - 2 x.m + |m|^2: where x matches a bank row (a static
        # or uniform scene) the expanded form cancels ~1e-3 of float32 noise that the square root turns into
        # ~3e-2, and torch and ONNX Runtime accumulate the GEMM differently (README, "Exact small distances").
        nearest = torch.argmin(self._bank_term(flat), dim=1)
        diff = flat - self.bank.float()[nearest]
        dist = (diff * diff).sum(1).sqrt().reshape(n, h * w)
        return dist.reshape(n, h, w), self._reweighted_score(patches, dist, nearest.reshape(n, h * w))

    def _bank_term(self, x: torch.Tensor) -> torch.Tensor:
        """|M|^2 - 2 x.M^T for rows x [P, D]: squared distances to every bank row, less |x|^2 (with a search
        basis B: the same in its directions, |MB|^2 - 2 xB.(MB)^T).

        One GEMM without a bias, [x, 1] @ [-2 M^T; |M|^2]: the weights are a constant of the graph, and ONNX
        Runtime's Gemm with a broadcast bias first copies the bias into the whole [P, M] output and then
        accumulates onto it, an extra pass over the largest tensor of the graph (7-8 % of the bottle graph,
        benchmarks/results/graph-speed/README.md)."""
        if self.search_basis.shape[1]:
            x, bank, sq_norm = x @ self.search_basis, self.search_bank, self.search_sq_norm
        else:
            bank, sq_norm = self.bank.float(), self.bank_sq_norm
        weights = torch.cat([bank.T * -2.0, sq_norm[None]])  # [D + 1, M]
        return torch.cat([x, x.new_ones(x.shape[0], 1)], 1) @ weights

    def _reweighted_score(self, patches: torch.Tensor, dist: torch.Tensor, nearest: torch.Tensor) -> torch.Tensor:
        """Eq. 7: the largest patch distance, down-weighted when its nearest bank entry sits in a dense region."""
        max_dist, worst = dist.max(dim=1, keepdim=True)  # [N, 1]
        worst_patch = torch.gather(patches, 1, worst.unsqueeze(2).expand(-1, 1, patches.shape[2])).squeeze(1)
        anchor = torch.gather(nearest, 1, worst).squeeze(1)  # m*: the worst patch's nearest bank row
        neighbours = self.bank[self.support[anchor]].float()  # [N, b, D], m* first
        neighbour_dist = (neighbours - worst_patch.unsqueeze(1)).pow(2).sum(-1).clamp_min(0.0).sqrt()
        weight = 1.0 - torch.softmax(neighbour_dist, dim=1)[:, 0]
        return weight * max_dist.squeeze(1)
