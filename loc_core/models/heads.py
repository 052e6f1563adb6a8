"""The occupancy (geometry) head and the language head.

The language head maps a voxel's hidden vector h (L channels) through a learned linear projection
W (D,L) into the text space: f = W h / |W h|. Cosine similarity with a unit text embedding t is
(h . (W^T t)) / sqrt(h^T (W^T W) h), so classification runs in the small L space: the projected
prompts W^T t and the Gram matrix W^T W are computed once per prompt set."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class OccupancyHead(nn.Module):
    """(B,C,X,Y) BEV features -> (B,X,Y,Z) occupancy logits."""

    def __init__(self, channels: int, num_z: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, num_z, 1)
        nn.init.constant_(self.conv.bias, -2.0)  # most voxels are free

    def forward(self, bev):
        return self.conv(bev).permute(0, 2, 3, 1)


class LanguageHead(nn.Module):
    """Language features of chosen voxels. The first layer is split so that its expensive parts run
    on small dense maps, once per frame: `bev_map` (B,C,X,Y) -> (B,H,X,Y) and `camera_map`
    (Ncam,F,h,w) -> (Ncam,H,h,w); a voxel then only gathers and adds its column's and its camera
    cell's vectors and its height-bin embedding before a small MLP -> hidden (M,L)."""

    def __init__(self, bev_channels: int, camera_channels: int, num_z: int, hidden: int, channels: int,
                 text_dim: int):
        super().__init__()
        self.bev_in = nn.Conv2d(bev_channels, hidden, 1)
        self.camera_in = nn.Conv2d(camera_channels, hidden, 1, bias=False)
        self.z_embed = nn.Embedding(num_z, hidden)
        self.mlp = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, channels))
        self.projection = nn.Linear(channels, text_dim, bias=False)

    def bev_map(self, bev):
        return self.bev_in(bev)

    def camera_map(self, image_features):
        return self.camera_in(image_features) if len(image_features) else \
            image_features.new_zeros((0, self.z_embed.embedding_dim) + tuple(image_features.shape[-2:]))

    def hidden(self, column_vectors, camera_vectors, z_index):
        """(M,H) gathered bev_map, (M,H) gathered camera_map, (M,) height bins -> (M,L)."""
        summed = column_vectors + camera_vectors
        summed += self.z_embed(z_index)
        return self.mlp(summed)

    def features(self, hidden):
        """(M,L) -> (M,D) float32 L2-normalised language features (normalised in float32 also
        under a bfloat16 autocast forward)."""
        return F.normalize(self.projection(hidden).float(), dim=-1)

    def subspace_lengths(self, text):
        """(P,D) unit text embeddings -> (P,) float32 length of each one's orthogonal projection onto
        the span of W, the L-dimensional subspace of the text space that voxel features live in.
        A unit feature's cosine to a prompt only sees the prompt's part inside that span, while the
        prompt's full length divides it: a word lying mostly outside the span (one the network never
        trained on) scores low against every voxel. Divided by this length, the cosine is the one to
        the prompt's projection, so every prompt competes on the part the network can express
        (`inference.prompt_projection`)."""
        basis, _ = torch.linalg.qr(self.projection.weight.detach().float())  # (D,L) orthonormal
        return (text.float() @ basis).norm(dim=-1)

    def prompt_operator(self, text):
        """(P,D) unit text embeddings -> ((P,L) W^T t, (L,L) W^T W), reused for every voxel."""
        weight = self.projection.weight  # (D, L)
        return text @ weight, weight.T @ weight

    @staticmethod
    def dots_and_norm(hidden, operator):
        """(M,L) hidden, prompt_operator(...) -> ((M,P) dots h . W^T t, (M,) norms |W h|); the
        cosine similarities are dots / norms."""
        projected_text, gram = operator
        dots = hidden @ projected_text.T
        norm = ((hidden @ gram) * hidden).sum(-1).clamp_(min=1e-12).sqrt_()
        return dots, norm

    @staticmethod
    def cosine(hidden, operator):
        """(M,L) hidden, prompt_operator(...) -> (M,P) cosine similarities."""
        dots, norm = LanguageHead.dots_and_norm(hidden, operator)
        return dots / norm[:, None]


def match_scores(dots, norm, label_weights=None, temperature: float = 0.0, norm_weight: float = 0.0, out=None):
    """(M,P) dots h . W^T t and (M,) norms |W h| (`LanguageHead.dots_and_norm`) -> ((M,) float32
    match score, (M,) int64 index of the best prompt), as `LocNetwork.classify_voxels` defines them
    (`label_weights` (P,) pick the label, `temperature` the smooth maximum, `norm_weight` the norm
    bonus). `out`: an optional pair of tensors to write them into. Overwrites `dots` with a temperature."""
    best, best_index = out if out is not None else (torch.empty_like(norm), torch.empty(len(norm), dtype=torch.int64,
                                                                                         device=norm.device))
    if label_weights is None:
        values, best_index[:] = dots.max(dim=1)
    else:
        values = dots.max(dim=1).values
        best_index[:] = (dots * label_weights).argmax(dim=1)
    # the norm is positive: the best cosine is the best dot product over the norm
    torch.div(values, norm, out=best)
    if temperature > 0:
        best += soft_margin(dots, norm, best, temperature)
    if norm_weight > 0:
        best += norm_bonus(norm, norm_weight)
    return best, best_index


def soft_best_similarity(cosine, temperature: float):
    """(M,P) cosine similarities -> (M,) T log(sum_p exp(cos_p / T)): a smooth maximum over the
    prompts (the negative energy score of out-of-distribution detection, with cosines as logits),
    between each row's highest cosine and that plus T log P; the highest cosine as T -> 0 (T = 0
    gives it exactly). A prompt far below the best adds almost nothing, so adding prompts to a set
    barely moves the score; prompts close to the best one raise it."""
    if temperature <= 0:
        return cosine.max(dim=1).values
    return temperature * torch.logsumexp(cosine / temperature, dim=1)


def norm_bonus(norm, weight: float):
    """(M,) lengths |W h| of the voxels' language features before normalisation -> (M,) weight x
    ln|W h|, the feature-norm term of the match score (`inference.unknown_norm_weight`)."""
    return norm.clamp(min=1e-12).log().mul_(weight)


def soft_margin(dots, norm, best_cosine, temperature: float):
    """What `soft_best_similarity` adds to the best cosine, T log(sum_p exp((cos_p - best) / T)),
    from (M,P) dots h . W^T t, (M,) norms |W h| and (M,) best cosines, reusing the known maximum
    (no second max pass). Overwrites `dots`. -> (M,) in [0, T log P]."""
    scaled = dots.div_((norm * temperature)[:, None])
    scaled.sub_((best_cosine / temperature)[:, None]).exp_()
    return scaled.sum(dim=1).log_().mul_(temperature)
