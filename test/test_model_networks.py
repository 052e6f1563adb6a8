"""Backbones, heads and projections: shapes, units and the algebra the fast path relies on."""
import numpy as np
import pytest
import torch
from toy_world import TOY_ARCH, TOY_GRID, toy_frame

from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.models import create_model, list_models
from loc_core.models.factory import architecture
from loc_core.models.fusion import lidar_bev
from loc_core.models.inputs import CameraRig, frame_to_input, resize_camera
from loc_core.models.projection import feature_indices, gather_features

GRID = VoxelGrid(TOY_GRID.point_range, TOY_GRID.voxel_size)


@pytest.mark.parametrize('name', ['fusion_small', 'camera_only_small'])
def test_backbones_share_one_interface(name):
    assert name in list_models()
    torch.manual_seed(0)
    model = create_model({**architecture(name), **TOY_ARCH}, GRID, text_dim=24)
    sample = frame_to_input(toy_frame(0), model.image_size)
    voxels = torch.tensor([[0, 0, 0], [5, 6, 1], [31, 31, 7]])
    logits, feats, encoded = model([sample, sample], torch.tensor([0, 1, 1]), voxels)
    assert logits.shape == (2, 32, 32, 8)
    assert feats.shape == (3, 24)
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(3))
    assert encoded.bev.shape[:2] == (2, TOY_ARCH['bev_channels'])
    (logits.mean() + feats.sum()).backward()
    assert model.image_encoder.net[0][0].weight.grad.abs().sum() > 0  # images reach the losses


def test_prompt_operator_equals_explicit_cosine():
    torch.manual_seed(1)
    model = create_model({**architecture('fusion_small'), **TOY_ARCH}, GRID, text_dim=24)
    head = model.language_head
    hidden = torch.randn(50, TOY_ARCH['language_channels'])
    text = torch.nn.functional.normalize(torch.randn(7, 24), dim=1)
    fast = head.cosine(hidden, head.prompt_operator(text))
    explicit = head.features(hidden) @ text.T
    torch.testing.assert_close(fast, explicit, atol=1e-5, rtol=1e-5)


def test_soft_best_similarity_is_a_smooth_maximum():
    from loc_core.models.heads import soft_best_similarity

    cosine = torch.tensor([[0.9, 0.1, -0.2], [0.3, 0.3, 0.3]])
    torch.testing.assert_close(soft_best_similarity(cosine, 0.0), torch.tensor([0.9, 0.3]))
    sharp, smooth = soft_best_similarity(cosine, 0.001), soft_best_similarity(cosine, 0.1)
    assert abs(sharp[0] - 0.9) < 1e-4  # one prompt far ahead: the best cosine
    assert abs(smooth[1] - (0.3 + 0.1 * np.log(3))) < 1e-6  # a tie of three: + T log 3
    assert 0.9 < smooth[0] < 0.9 + 0.1 * np.log(3)
    # a prompt far below the best barely moves the score
    wider = soft_best_similarity(torch.cat([cosine, torch.full((2, 1), -0.5)], 1), 0.1)
    assert abs(wider[0] - smooth[0]) < 1e-3


def test_soft_margin_from_dots_matches_the_smooth_maximum():
    """The inference path's form (dots and norms, the known best cosine) gives the same score."""
    from loc_core.models.heads import soft_best_similarity, soft_margin

    generator = torch.Generator().manual_seed(0)
    dots, norm = torch.randn(500, 17, generator=generator), torch.rand(500, generator=generator) * 3 + 0.1
    cosine = dots / norm[:, None]
    best = cosine.max(dim=1).values
    for temperature in (0.01, 0.1, 1.0):
        torch.testing.assert_close(best + soft_margin(dots.clone(), norm, best, temperature),
                                   soft_best_similarity(cosine, temperature))


def test_lidar_bev_counts_and_height_bins():
    points = torch.tensor([[0.1, 0.1, -0.9], [0.1, 0.1, -0.8], [0.1, 0.1, 1.0], [100.0, 0, 0], [0.5, 0.1, 0.0]])
    bev = lidar_bev(points, GRID)
    nz = GRID.shape[2]
    assert bev.shape == (32, 32, nz + 1)
    i, j, _ = GRID.point_to_index(points[:1].numpy())[0]
    assert bev[i, j, 0] == 1 and bev[i, j, GRID.point_to_index([[0.1, 0.1, 1.0]])[0, 2]] == 1
    assert torch.isclose(bev[i, j, nz], torch.log1p(torch.tensor(3.0)))  # 3 points in that column
    assert bev[..., :nz].sum() == 3  # 2 bins in one column + 1 in the next; the far point is dropped


def test_projection_picks_the_right_camera_and_cell():
    k = np.array([[32.0, 0, 32], [0, 32, 16], [0, 0, 1]])
    front = np.array([[0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]], float)
    back = front.copy()
    back[:3, :3] = np.diag([-1, -1, 1]) @ front[:3, :3]
    rig = CameraRig(np.stack([k, k]), np.stack([front, back]), (64, 32))
    points = np.array([[5.0, 0, 0], [-5.0, 0, 0], [0, 5.0, 0], [5.0, 0, 2.0]])
    index = feature_indices(points, rig, (4, 8))
    # straight ahead of the front camera: centre pixel (32, 16) -> feature cell row 2, col 4 of camera 0
    assert index[0] == 0 * 32 + 2 * 8 + 4
    assert index[1] == 1 * 32 + 2 * 8 + 4  # behind the ego: the back camera
    assert index[2] == -1  # to the side: no camera sees it
    assert index[3] == 0 * 32 + 0 * 8 + 4  # above the axis: higher in the image (v = 16 - 32*2/5 = 3.2)
    maps = torch.arange(2 * 3 * 4 * 8, dtype=torch.float32).view(2, 3, 4, 8)
    feats = gather_features(maps, index)
    torch.testing.assert_close(feats[0], maps[0, :, 2, 4])
    assert torch.all(feats[2] == 0)


def test_resize_camera_scales_intrinsics():
    image = np.zeros((900, 1600, 3), np.uint8)
    k = np.array([[1266.0, 0, 816], [0, 1266, 491], [0, 0, 1]])
    small, k2 = resize_camera(image, k, (352, 128))
    assert small.shape == (128, 352, 3)
    np.testing.assert_allclose(k2[0], k[0] * 352 / 1600)
    np.testing.assert_allclose(k2[1], k[1] * 128 / 900)


def test_resize_camera_matches_a_direct_area_resize():
    """The halving chain area-averages like one direct INTER_AREA resize, to within uint8 rounding."""
    import cv2

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur((rng.random((900, 1600, 3)) * 255).astype(np.uint8), (0, 0), 3)
    small, _ = resize_camera(image, np.eye(3), (352, 128))
    direct = cv2.resize(image, (352, 128), interpolation=cv2.INTER_AREA)
    difference = np.abs(small.astype(int) - direct)
    assert difference.mean() < 1.0 and difference.max() <= 8
    flat, _ = resize_camera(np.full((900, 1600, 3), 77, np.uint8), np.eye(3), (352, 128))
    assert np.all(flat == 77)


def test_bad_architectures_are_rejected():
    with pytest.raises(ValueError, match='unknown model'):
        create_model('resnet9000')
    with pytest.raises(ValueError, match='multiple of 8'):
        create_model({**architecture('fusion_small'), 'image_size': [350, 128]})
    with pytest.raises(ValueError, match='unknown backbone'):
        create_model({**architecture('fusion_small'), 'backbone': 'transformer'})


def _random_rig(rng, cameras=6, size=(352, 128)):
    """Cameras looking outwards at evenly spaced yaws, 1.5 m up, with a little pitch."""
    k = np.array([[250.0, 0, size[0] / 2], [0, 250.0, size[1] / 2], [0, 0, 1]])
    poses = []
    for yaw in np.linspace(0, 2 * np.pi, cameras, endpoint=False) + rng.normal(0, 0.05):
        c, s = np.cos(yaw), np.sin(yaw)
        forward, left = np.array([c, s, 0.0]), np.array([-s, c, 0.0])
        pose = np.eye(4)
        pose[:3, :3] = np.stack([-left, -np.array([0, 0, 1.0]) + 0.05 * forward, forward], axis=1)
        pose[:3, 3] = [1.0, 0.0, 1.5]
        poses.append(pose)
    return CameraRig(np.stack([k] * cameras), np.stack(poses), size)


def test_projection_matches_a_float64_reference():
    """Every point's camera and feature cell, against a direct float64 pinhole projection (cell
    boundaries crossed by float32 rounding excepted)."""
    rng = np.random.default_rng(3)
    rig = _random_rig(rng)
    points = rng.uniform([-40, -40, -1], [40, 40, 5.4], (20000, 3))
    index = feature_indices(points, rig, (16, 44)).numpy()
    width, height = rig.image_size
    best, expected = np.full(len(points), np.inf), np.full(len(points), -1)
    for c in range(rig.num_cameras):
        cam = (np.linalg.inv(rig.cam_to_ego[c]) @ np.c_[points, np.ones(len(points))].T)[:3].T
        uv = (cam @ rig.intrinsics[c].T)[:, :2] / cam[:, 2:]
        ok = (cam[:, 2] > 0.1) & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
        score = np.where(ok, np.abs(uv[:, 0] / width - 0.5) + np.abs(uv[:, 1] / height - 0.5), np.inf)
        cell = c * 16 * 44 + (uv[:, 1] * 16 / height).astype(int).clip(0, 15) * 44 + \
            (uv[:, 0] * 44 / width).astype(int).clip(0, 43)
        better = score < best
        expected[better], best[better] = cell[better], score[better]
    assert (expected >= 0).mean() > 0.5
    assert (index == expected).mean() > 0.999


def test_projection_tables_only_for_a_rig_that_stays_the_same():
    """A fixed rig gets cached tables from its second frame on; a rig that changes every frame
    (nuScenes' motion-compensated cameras) is projected afresh and fills no cache; both paths give
    the same features."""
    torch.manual_seed(0)
    model = create_model({**architecture('fusion_small'), **TOY_ARCH}, GRID, text_dim=24).eval()
    frame = toy_frame(0)
    voxels = torch.tensor([[3, 4, 1], [16, 16, 2], [30, 2, 5]])
    with torch.inference_mode():
        first = model([frame_to_input(frame, model.image_size)], torch.zeros(3, dtype=torch.long), voxels)[1]
        assert not model.projections.has(frame_to_input(frame, model.image_size).rig, 'columns', model.feature_hw)
        second = model([frame_to_input(frame, model.image_size)], torch.zeros(3, dtype=torch.long), voxels)[1]
        rig = frame_to_input(frame, model.image_size).rig
        assert model.projections.has(rig, 'columns', model.feature_hw)
        torch.testing.assert_close(first, second)
        moved = toy_frame(0)
        for cam in moved.cameras:
            cam.cam_to_ego = cam.cam_to_ego.copy()
            cam.cam_to_ego[0, 3] += 0.01
        model([frame_to_input(moved, model.image_size)], torch.zeros(3, dtype=torch.long), voxels)
        moved_rig = frame_to_input(moved, model.image_size).rig
        assert not model.projections.has(moved_rig, 'columns', model.feature_hw)


def test_dilate_grows_a_box_around_each_return():
    from loc_core.models.fusion import dilate

    points = torch.tensor([[0.1, 0.1, 0.1], [-6.3, -6.3, -0.9], [100.0, 0, 0]])  # the last is outside
    occupied = lidar_bev(points, GRID)[..., :GRID.shape[2]] > 0
    reach = dilate(occupied, columns=2, layers=1)
    i, j, k = GRID.point_to_index(points[:1].numpy())[0]
    assert reach[i - 2:i + 3, j - 2:j + 3, k - 1:k + 2].all()
    assert not reach[i + 3, j, k] and not reach[i, j - 3, k] and not reach[i, j, k + 2]
    assert reach.sum() == 5 * 5 * 3 + 3 * 3 * 2  # the corner return's box is clipped by the grid
    assert torch.equal(dilate(occupied, 0, 0), occupied) and occupied.sum() == 2
    assert dilate(torch.zeros_like(occupied), 2, 1).sum() == 0


def test_camera_reach_keeps_camera_features_near_lidar_returns_only():
    """An object's image features spread along the camera rays over every column the rays cross
    (streaks); with `camera_reach` only columns and voxels near a LiDAR return read them."""
    torch.manual_seed(3)
    plain = create_model({**architecture('fusion_small'), **TOY_ARCH}, GRID, text_dim=24)
    gated = create_model({**architecture('fusion_small'), **TOY_ARCH, 'camera_reach': [1, 1]}, GRID, text_dim=24)
    gated.load_state_dict(plain.state_dict())
    frame = toy_frame(2)
    sample = frame_to_input(frame, plain.image_size)
    features = plain.image_encoder(sample.images)
    nz = GRID.shape[2]
    everywhere, no_reach = plain.bev_inputs(sample, features)
    near, reach = gated.bev_inputs(sample, features)
    assert no_reach is None and reach.shape == GRID.shape
    torch.testing.assert_close(near[..., :nz + 1], everywhere[..., :nz + 1])  # the LiDAR channels
    everywhere, near = everywhere[..., nz + 1:], near[..., nz + 1:]
    heights = len(architecture('fusion_small')['column_heights'])
    seen = everywhere.view(32, 32, heights, -1).abs().sum(-1) > 0  # column samples some camera sees
    kept = near.view(32, 32, heights, -1).abs().sum(-1) > 0
    layers = torch.as_tensor(gated.column_layers())
    assert torch.equal(kept, seen & reach[:, :, layers])
    assert 0 < kept.sum() < seen.sum()
    torch.testing.assert_close(near[kept.repeat_interleave(near.shape[-1] // heights, -1)],
                               everywhere[kept.repeat_interleave(near.shape[-1] // heights, -1)])
    # the language path: a voxel out of reach reads no camera feature, one within reach does
    with torch.no_grad():
        encoded = gated.encode([sample])
    assert torch.equal(encoded.camera_reach[0], reach)
    far, close = (~reach).nonzero(), reach.nonzero()
    flat = lambda v: (v[:, 0] * 32 + v[:, 1]) * nz + v[:, 2]  # noqa: E731
    seen_far = far[gated.camera_index_of(sample, far, flat(far)) >= 0][:1]  # a camera sees it
    assert len(seen_far) == 1
    assert gated.camera_index_of(sample, seen_far, flat(seen_far), reach).item() == -1
    assert torch.equal(gated.camera_index_of(sample, close, flat(close), reach),
                       gated.camera_index_of(sample, close, flat(close)))
    voxels = torch.cat([seen_far, close[:20]])
    operator = gated.language_head.prompt_operator(torch.nn.functional.normalize(torch.randn(4, 24), dim=1))
    with torch.no_grad():  # the inference path and the training path gate alike
        best, index, _ = gated.classify_voxels(encoded, voxels, operator)
        hidden = gated.voxel_hidden(encoded, torch.zeros(len(voxels), dtype=torch.int64), voxels)
        cosine = gated.language_head.cosine(hidden, operator)
        blind = gated.language_head.hidden(encoded.language_bev[0].permute(1, 2, 0)[seen_far[:, 0], seen_far[:, 1]],
                                           torch.zeros(1, encoded.language_bev.shape[1]), seen_far[:, 2])
    torch.testing.assert_close(best, cosine.max(1).values, atol=1e-5, rtol=1e-5)
    assert torch.equal(index, cosine.argmax(1))
    torch.testing.assert_close(hidden[:1], blind)  # the far voxel: as if no camera saw it
