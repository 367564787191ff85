"""Rebuild the fitted anomalib PatchCore from the lightning checkpoint (same construction as fit_anomalib).

Run in the anomalib venv (benchmarks/anomalib_compare.py's docstring); ANOMALIB_CKPT: the checkpoint that
anomalib_compare.py's fit wrote (.../Patchcore/MVTecAD/bottle/v*/weights/lightning/model.ckpt).
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # benchmarks/
import anomalib_compare as ac
import timm
import torch
from anomalib.models import Patchcore
from anomalib.pre_processing import PreProcessor
from torchvision.transforms.v2 import Compose, Normalize, Resize

CKPT = os.environ["ANOMALIB_CKPT"]


def build():
    probe = timm.create_model(ac.BACKBONE, pretrained=False, features_only=True)
    layers = [probe.feature_info.info[i]["module"] for i in ac.STAGES]
    cfg = probe.pretrained_cfg
    pre = PreProcessor(transform=Compose([Resize(ac.SIZE, antialias=True), Normalize(cfg["mean"], cfg["std"])]))
    model = Patchcore(
        backbone=ac.BACKBONE,
        layers=layers,
        pre_trained=False,
        coreset_sampling_ratio=ac.CORESET_RATIO,
        num_neighbors=ac.NEIGHBOURS,
        pre_processor=pre,
        visualizer=False,
    )
    sd = torch.load(CKPT, map_location="cpu", weights_only=False)["state_dict"]
    model.model.memory_bank = sd["model.memory_bank"].clone()
    missing, unexpected = model.load_state_dict(sd, strict=False)
    print("missing", missing, "unexpected", unexpected, flush=True)
    return model.eval()
