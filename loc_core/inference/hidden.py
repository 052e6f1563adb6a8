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


def source_rows(rows: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """(X,Y,Z) int64 row of each visible occupied voxel in the classified list (-1 elsewhere) and
    the `hidden_voxels` mask -> the same grid with every hidden voxel holding the row it copies: the
    nearest visible voxel above it, else below it (module docstring)."""
    rows = rows.clone()
    for z in range(rows.shape[2] - 2, -1, -1):  # top down: hidden voxels under a visible one
        rows[:, :, z] = torch.where(hidden[:, :, z], rows[:, :, z + 1], rows[:, :, z])
    for z in range(1, rows.shape[2]):  # bottom up: stacks of hidden voxels that reach the top layer
        rows[:, :, z] = torch.where(hidden[:, :, z] & (rows[:, :, z] < 0), rows[:, :, z - 1], rows[:, :, z])
    return rows
