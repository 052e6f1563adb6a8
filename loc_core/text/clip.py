"""open_clip models: the text encoder (any open_clip model name; weights from a local checkpoint
file or an open_clip pretrained tag, or random when none) and the image tower's dense
per-patch feature map in the text space (the distillation teacher)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from loc_core.text.base import TextEncoder
from loc_core.text.cache import EmbeddingCache

log = logging.getLogger(__name__)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def load_clip(model_name: str, pretrained: str = '', device: str = 'cpu'):
    """open_clip model in eval mode. `pretrained`: a local checkpoint path, an open_clip tag (needs
    the network or a populated cache) or '' for random weights (tests)."""
    import open_clip

    if model_name not in open_clip.list_models():
        raise ValueError(f'unknown open_clip model {model_name!r}')
    source = pretrained or None
    if source and ('/' in source or source.endswith(('.pt', '.bin', '.safetensors'))) and not Path(source).exists():
        raise FileNotFoundError(f'open_clip checkpoint {source} not found')
    model = open_clip.create_model(model_name, pretrained=source, device=device)
    if not pretrained:
        log.warning('open_clip %s has random weights (no pretrained source given)', model_name)
    return model.eval()


class ClipTextEncoder(TextEncoder):
    def __init__(self, model_name: str, pretrained: str = '', device: str = 'cpu',
                 cache: EmbeddingCache | None = None, model=None):
        super().__init__(cache)
        import open_clip

        self.model = model if model is not None else load_clip(model_name, pretrained, device)
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.device = device
        self.identity = f'clip:{model_name}:{pretrained or "random"}'
        self.dim = int(self.model.text_projection.shape[1]) if hasattr(self.model, 'text_projection') \
            and self.model.text_projection is not None else int(self.model.encode_text(
                self.tokenizer(['x']).to(device)).shape[1])

    def _encode_raw(self, texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            tokens = self.tokenizer(texts).to(self.device)
            return self.model.encode_text(tokens).float().cpu().numpy()


class ClipDenseFeatures(torch.nn.Module):
    """The image tower of an open_clip ViT as a dense feature map: images (B,3,H,W) float in [0,1]
    -> (B,D,h,w) float32 L2-normalised per-patch embeddings in the text space (patch tokens
    through ln_post and the tower's projection). Frozen."""

    def __init__(self, clip_model):
        super().__init__()
        visual = clip_model.visual
        if not hasattr(visual, 'conv1') or getattr(visual, 'proj', None) is None:
            raise ValueError('dense CLIP features need an open_clip VisionTransformer with a projection')
        self.visual = visual
        self.patch = int(visual.conv1.kernel_size[0])
        self.input_size = tuple(visual.image_size) if isinstance(visual.image_size, (tuple, list)) \
            else (visual.image_size, visual.image_size)
        self.register_buffer('mean', torch.tensor(CLIP_MEAN).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(CLIP_STD).view(1, 3, 1, 1))
        for p in self.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.interpolate(images, size=self.input_size, mode='bilinear', align_corners=False)
        x = (x - self.mean) / self.std
        visual = self.visual
        previous = visual.output_tokens
        visual.output_tokens = True
        try:
            _, tokens = visual(x)
        finally:
            visual.output_tokens = previous
        feats = tokens @ visual.proj  # (B, h*w, D)
        h, w = self.input_size[0] // self.patch, self.input_size[1] // self.patch
        feats = torch.nn.functional.normalize(feats.float(), dim=-1)
        return feats.transpose(1, 2).reshape(len(images), -1, h, w)
