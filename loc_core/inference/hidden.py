"""Hidden voxels: occupied voxels that no sensor inside the grid can see, because all six face
neighbours are occupied (faces on the grid's boundary count as closed). With
`inference.hidden_voxels: from_above` the prompt step runs only on the other occupied voxels, and a
hidden voxel takes the class, score and feature of the nearest visible voxel above it in its
column (the column's next visible voxel below where a stack of hidden voxels reaches the grid's
top): the earth under a road is road, the inside of a car is car. Nothing outside the grid's
occupied voxels changes; occupancy itself is untouched."""
from __future__ import annotations

import torch


def hidden_voxels(occupied: torch.Tensor) -> torch.Tensor:
    """(X,Y,Z) bool occupied voxels -> (X,Y,Z) bool: those whose six face neighbours inside the grid
    are all occupied, in columns that keep at least one visible occupied voxel (a column hidden from
    top to bottom stays visible: it has nothing to copy from)."""
    nx, ny, nz = occupied.shape
    closed = torch.ones((nx + 2, ny + 2, nz + 2), dtype=torch.bool, device=occupied.device)
    closed[1:-1, 1:-1, 1:-1] = occupied
    hidden = occupied & closed[2:, 1:-1, 1:-1] & closed[:-2, 1:-1, 1:-1]
    hidden &= closed[1:-1, 2:, 1:-1] & closed[1:-1, :-2, 1:-1]
    hidden &= closed[1:-1, 1:-1, 2:] & closed[1:-1, 1:-1, :-2]
    visible_in_column = (occupied & ~hidden).any(dim=2, keepdim=True)
    return hidden & visible_in_column


def source_rows(voxels: torch.Tensor, hidden: torch.Tensor, columns_y: int) -> torch.Tensor:
    """(M,3) int64 occupied voxel indices in C order (as torch.nonzero gives them: a column's voxels
    are consecutive, bottom up) and (M,) bool hidden -> (M,) int64: for each voxel the row, among the
    visible ones in the same order (`voxels[~hidden]`), whose class it takes: itself when visible,
    else the nearest visible voxel above it in its column, else the nearest below (module
    docstring). `columns_y` is the grid's Y size. Every hidden voxel's column must hold a visible one
    (`hidden_voxels` guarantees it)."""
    visible = ~hidden
    visible_at = torch.nonzero(visible).squeeze(1)  # (V,) list positions of the visible voxels
    # for each position, the count of visible voxels before it: the row of the next visible one
    following = torch.cumsum(visible, 0).sub_(visible.long())
    column = voxels[:, 0] * columns_y + voxels[:, 1]
    after = following.clamp(max=len(visible_at) - 1)
    # a hidden voxel's occupied neighbours above come next in the list, up to a visible one or the top
    same_column = (following < len(visible_at)) & (column[visible_at[after]] == column)
    return torch.where(same_column, after, following - 1)
