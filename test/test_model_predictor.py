"""LocPredictor: the inference entry point on toy frames and on a real nuScenes frame."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from toy_world import toy_config, toy_frame

from loc_core.config import LocConfig
from loc_core.inference.predictor import LocPredictor
from loc_core.inference.result import FREE_LABEL, UNKNOWN_LABEL


@pytest.fixture(scope='module')
def predictor():
    config = toy_config()
    config.inference.checkpoint = 'none'
    config.inference.occupancy_threshold = 0.3  # random weights: occupancy logits start near -2
    torch.manual_seed(0)
    with torch.no_grad():
        predictor = LocPredictor(config)
        predictor.model.occupancy_head.conv.bias.fill_(0.0)  # about half the voxels occupied
    return predictor


def test_result_shapes_dtypes_and_units(predictor):
    frame = toy_frame(1)
    result = predictor.predict(frame)
    shape = predictor.grid.shape
    assert predictor.trained is False
    assert result.labels.shape == shape and result.labels.dtype == np.uint8
    assert result.occupancy.shape == shape and result.occupancy.dtype == np.float32
    assert np.all((result.occupancy >= 0) & (result.occupancy <= 1))
    m = len(result.occupied_indices)
    assert 0 < m < np.prod(shape)
    assert result.occupied_indices.dtype == np.int64 and result.occupied_indices.shape == (m, 3)
    assert result.features.shape == (m, predictor.text_encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(result.features, axis=1), 1.0, atol=1e-5)
    i, j, k = result.occupied_indices.T
    assert np.all(result.labels[i, j, k] != FREE_LABEL)
    assert np.all(result.occupancy[i, j, k] >= 0.3)
    assert (result.labels != FREE_LABEL).sum() == m
    # scores are the best cosine to the prompts: recompute from the returned features
    text = predictor.text_encoder.encode_prompts(predictor.prompts, predictor.config.text.templates)
    np.testing.assert_allclose(result.scores[i, j, k], (result.features @ text.T).max(1), atol=1e-4)
    # the features come factored: (M,L) coefficients, and similarities need not materialise (M,D)
    assert result.feature_coefficients.shape == (m, predictor.model.language_head.projection.in_features)
    np.testing.assert_allclose(result.similarities(text), result.features @ text.T, atol=1e-5)
    kept = result.select_voxels(np.arange(m) % 2 == 0)
    np.testing.assert_allclose(kept.features, result.features[::2], atol=1e-6)
    assert result.timestamp_ns == frame.timestamp_ns
    assert set(result.timings_ms) == {'prepare', 'network', 'language', 'assemble'}


def test_unknown_threshold(predictor):
    frame = toy_frame(2)
    base = predictor.predict(frame)
    occupied = base.labels != FREE_LABEL
    try:
        predictor.config.inference.unknown_threshold = 1.0
        assert np.all(predictor.predict(frame).labels[occupied] == UNKNOWN_LABEL)
        middle = float(np.median(base.scores[occupied]))
        predictor.config.inference.unknown_threshold = middle
        result = predictor.predict(frame)
        np.testing.assert_array_equal(result.unknown, occupied & (base.scores < middle))
        assert result.to_occ3d_semantics()[result.unknown].max() == 0  # unknown -> others
    finally:
        predictor.config.inference.unknown_threshold = 0.0


def test_unknown_temperature_scores_by_the_smooth_maximum(predictor):
    """With inference.unknown_temperature T > 0 the match score is T log(sum exp(cos / T)) of the
    voxel's cosines (recomputed here from its features); the labels (best prompt) do not change."""
    frame = toy_frame(2)
    text = predictor.text_encoder.encode_prompts(predictor.prompts, predictor.config.text.templates)
    inference = predictor.config.inference
    try:
        inference.unknown_threshold = -1.0  # nothing unknown: labels are the best prompts
        base = predictor.predict(frame)
        inference.unknown_temperature = 0.1
        soft = predictor.predict(frame)
    finally:
        inference.unknown_temperature, inference.unknown_threshold = 0.0, 0.0
    cosine = soft.features @ text.T
    expected = 0.1 * np.log(np.sum(np.exp(cosine / 0.1), axis=1))
    i, j, k = soft.occupied_indices.T
    np.testing.assert_allclose(soft.scores[i, j, k], expected, atol=1e-5)
    assert np.all(soft.scores[i, j, k] >= base.scores[i, j, k] - 1e-6)  # at least the best cosine
    assert np.all(soft.scores[i, j, k] <= base.scores[i, j, k] + 0.1 * np.log(cosine.shape[1]) + 1e-6)
    np.testing.assert_array_equal(soft.labels, base.labels)


def test_a_norm_weight_adds_the_log_feature_length(predictor):
    """With inference.unknown_norm_weight a the match score is the smooth maximum plus a ln|W h|, |W h|
    the voxel's language feature before normalisation (recomputed here from the network's layers)."""
    from loc_core.models.inputs import frame_to_input

    frame = toy_frame(2)
    inference = predictor.config.inference
    try:
        inference.unknown_threshold, inference.unknown_temperature = -1.0, 0.1
        plain = predictor.predict(frame)
        inference.unknown_norm_weight = 0.2
        weighted = predictor.predict(frame)
    finally:
        inference.unknown_temperature, inference.unknown_threshold, inference.unknown_norm_weight = 0.0, 0.0, 0.0
    model = predictor.model
    with torch.inference_mode():
        encoded = model.encode([frame_to_input(frame, model.image_size)])
        voxels = torch.from_numpy(weighted.occupied_indices)
        hidden = model.voxel_hidden(encoded, torch.zeros(len(voxels), dtype=torch.int64), voxels)
        length = model.language_head.projection(hidden).norm(dim=-1).numpy()
    i, j, k = weighted.occupied_indices.T
    np.testing.assert_allclose(weighted.scores[i, j, k] - plain.scores[i, j, k], 0.2 * np.log(length), atol=1e-4)
    np.testing.assert_array_equal(weighted.labels, plain.labels)  # the best prompt does not change


def test_subspace_lengths_measure_the_part_of_a_prompt_the_features_can_reach():
    """LanguageHead.subspace_lengths: 1 for a prompt inside the span of W, 0 for one orthogonal
    to it, the norm of the least-squares projection in general."""
    from loc_core.models.heads import LanguageHead

    torch.manual_seed(1)
    head = LanguageHead(8, 8, 4, 16, 6, 24)
    weight = head.projection.weight.detach()  # (24, 6)
    inside = torch.nn.functional.normalize(torch.randn(3, 6) @ weight.T, dim=-1)
    np.testing.assert_allclose(head.subspace_lengths(inside).numpy(), 1.0, atol=1e-5)
    text = torch.nn.functional.normalize(torch.randn(5, 24), dim=-1)
    projection = weight @ torch.linalg.lstsq(weight, text.T).solution  # (24, 5)
    np.testing.assert_allclose(head.subspace_lengths(text).numpy(), projection.norm(dim=0).numpy(), atol=1e-5)
    outside = text[:1] - (projection.T[:1])
    assert head.subspace_lengths(torch.nn.functional.normalize(outside, dim=-1)).item() < 1e-4


def test_prompt_projection_changes_labels_not_scores(predictor):
    """With inference.prompt_projection a voxel's label is the prompt with the best cosine divided by
    the length of the prompt's projection onto the feature subspace; match scores stay the same."""
    frame = toy_frame(2)
    inference = predictor.config.inference
    prompts, ids = predictor.prompts, predictor.class_ids
    try:
        inference.unknown_threshold = -1.0
        plain = predictor.predict(frame)
        inference.prompt_projection = True
        predictor.set_prompts(prompts, ids)
        projected = predictor.predict(frame)
        weights = predictor.prompt_label_weights
    finally:
        inference.prompt_projection, inference.unknown_threshold = False, 0.0
        predictor.set_prompts(prompts, ids)
    raw = torch.from_numpy(predictor.text_encoder.encode_prompts(prompts, predictor.config.text.templates))
    basis, _ = torch.linalg.qr(predictor.model.language_head.projection.weight.detach())
    np.testing.assert_allclose(weights, 1.0 / (raw @ basis).norm(dim=-1).numpy(), rtol=1e-5)
    assert np.all(weights > 1.0) and np.ptp(weights) > 0
    np.testing.assert_array_equal(projected.occupied_indices, plain.occupied_indices)
    np.testing.assert_array_equal(projected.scores, plain.scores)
    i, j, k = projected.occupied_indices.T
    cosines = projected.similarities(predictor.prompt_embeddings)
    np.testing.assert_array_equal(projected.labels[i, j, k], np.argmax(cosines * weights, axis=1))
    np.testing.assert_array_equal(plain.labels[i, j, k], np.argmax(cosines, axis=1))
    assert np.any(projected.labels != plain.labels)  # the competition between prompts changed


def test_lidar_only_frame_and_small_chunks(predictor):
    """A frame without cameras is predicted from LiDAR alone; the chunk size of the language step
    does not change the answer."""
    from dataclasses import replace

    from loc_core.models.inputs import frame_to_input

    assert len(predictor.predict(replace(toy_frame(4), cameras=[])).occupied_indices) > 0
    model, operator = predictor.model, predictor._prompts.operator
    with torch.inference_mode():
        encoded = model.encode([frame_to_input(toy_frame(4), model.image_size)])
        voxels = torch.nonzero(encoded.occupancy_logits[0] >= 0)
        whole = model.classify_voxels(encoded, voxels, operator, True, 0.1, chunk_size=len(voxels) + 1)
        pieces = model.classify_voxels(encoded, voxels, operator, True, 0.1, chunk_size=100)
    for a, b in zip(whole, pieces):
        torch.testing.assert_close(a, b)


def test_set_prompts_swaps_vocabulary(predictor):
    frame = toy_frame(3)
    before = predictor.predict(frame)
    predictor.set_prompts(['car', 'road'], class_ids=[4, 11])
    try:
        after = predictor.predict(frame)
        assert after.prompts == ('car', 'road')
        assert set(np.unique(after.labels)) <= {0, 1, UNKNOWN_LABEL, FREE_LABEL}
        np.testing.assert_array_equal(after.occupied_indices, before.occupied_indices)
        assert set(np.unique(after.to_occ3d_semantics())) <= {4, 11, 0, 17}
        with pytest.raises(ValueError):
            predictor.set_prompts([])
        with pytest.raises(ValueError):
            predictor.set_prompts(['a', 'b'], class_ids=[1])
        assert predictor.prompts == ('car', 'road')  # a rejected swap leaves the old set
    finally:
        predictor.set_prompts(LocConfig().inference.prompts, LocConfig().inference.resolved_class_ids())


def test_frame_without_cameras_or_points(predictor):
    frame = toy_frame(4)
    frame.cameras = []
    result = predictor.predict(frame)
    assert result.labels.shape == predictor.grid.shape
    frame.points = np.zeros((0, 3), np.float32)
    frame.intensity = np.zeros(0, np.float32)
    assert predictor.predict(frame).labels.shape == predictor.grid.shape


@pytest.mark.sample_data
def test_nuscenes_frame_on_the_occ3d_grid(nuscenes_source):
    frame = next(iter(nuscenes_source))
    predictor = LocPredictor(LocConfig())
    result = predictor.predict(frame, with_features=False)
    assert result.labels.shape == (200, 200, 16)
    assert len(result.occupied_indices) > 0
    assert result.features.shape == (len(result.occupied_indices), 0)


def test_cpu_runtime_limits_blas_and_keeps_freed_memory():
    """A predictor's process settings: torch and OpenCV at its thread count, every BLAS library loaded by then
    (the text encoder's included) at one thread (an idle OpenBLAS worker busy-waits), glibc malloc
    told to reuse freed blocks."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from loc_core.cpu_runtime import keep_freed_memory

    import cv2

    threadpool_limits(limits=2, user_api='blas')  # as a fresh process has them on this machine
    cv2.setNumThreads(2)
    config = toy_config()
    config.inference.checkpoint = 'none'
    LocPredictor(config)
    assert torch.get_num_threads() == config.inference.num_threads == cv2.getNumThreads()
    blas = [pool for pool in threadpool_info() if pool['user_api'] == 'blas']
    assert blas and all(pool['num_threads'] == 1 for pool in blas)
    assert keep_freed_memory()  # glibc: mallopt accepted both settings


def test_hidden_voxels_take_the_class_of_the_visible_voxel_above(predictor):
    """inference.hidden_voxels 'from_above': occupancy unchanged, visible voxels exactly as with
    'classify', every hidden voxel (six occupied face neighbours) with the label, score and feature
    of the nearest visible voxel above it in its column."""
    from loc_core.inference.hidden import hidden_voxels

    frame = toy_frame(3)
    inference, head = predictor.config.inference, predictor.model.occupancy_head.conv
    saved = head.weight.detach().clone(), head.bias.detach().clone()
    try:
        with torch.no_grad():  # a slab: the bottom four layers occupied where the network leans that way
            head.weight.mul_(0.2)
            head.bias.copy_(torch.tensor([3.0] * 4 + [-9.0] * (len(head.bias) - 4)))
        inference.unknown_threshold = -1.0
        every = predictor.predict(frame, with_features=True)
        inference.hidden_voxels = 'from_above'
        shortcut = predictor.predict(frame, with_features=True)
    finally:
        inference.unknown_threshold, inference.hidden_voxels = 0.0, 'classify'
        with torch.no_grad():
            head.weight.copy_(saved[0])
            head.bias.copy_(saved[1])
    np.testing.assert_array_equal(shortcut.occupied_indices, every.occupied_indices)
    hidden = hidden_voxels(torch.from_numpy(every.labels != FREE_LABEL)).numpy()
    assert 50 < hidden.sum() < (every.labels != FREE_LABEL).sum()
    visible = (every.labels != FREE_LABEL) & ~hidden
    np.testing.assert_array_equal(shortcut.labels[visible], every.labels[visible])
    np.testing.assert_allclose(shortcut.scores[visible], every.scores[visible], rtol=1e-6)
    for i, j, k in np.argwhere(hidden)[:200]:
        above = k + 1 + np.argmax(~hidden[i, j, k + 1:]) if not hidden[i, j, k + 1:].all() else None
        source = (i, j, above) if above is not None else (i, j, k - 1 - np.argmax(~hidden[i, j, :k][::-1]))
        assert shortcut.labels[i, j, k] == every.labels[source] and shortcut.scores[i, j, k] == every.scores[source]
    rows = {tuple(v): n for n, v in enumerate(shortcut.occupied_indices.tolist())}
    i, j, k = np.argwhere(hidden)[0]
    source = (i, j, k + 1 + np.argmax(~hidden[i, j, k + 1:]))
    np.testing.assert_array_equal(shortcut.feature_coefficients[rows[(i, j, k)]],
                                  every.feature_coefficients[rows[source]])
    assert np.any(shortcut.labels[hidden] != every.labels[hidden])  # they were classified differently before


def test_a_frame_prepared_on_another_thread_predicts_the_same():
    """`prepare` (the frame-only inputs: images as tensors, observed free space, BEV columns) runs
    where loc_node decodes, ahead of `predict`: a PreparedFrame gives the result of the plain Frame,
    also while the next frames are prepared on another thread during the prediction."""
    config = toy_config()
    config.model.overrides.update(free_space_input=True, camera_reach=[2, 2])
    config.inference.checkpoint, config.inference.occupancy_threshold = 'none', 0.3
    torch.manual_seed(0)
    predictor = LocPredictor(config)
    frames = [toy_frame(seed) for seed in (3, 4, 5, 6)]
    plain = [predictor.predict(frame) for frame in frames]
    with ThreadPoolExecutor(1) as pool:
        prepared = [pool.submit(predictor.prepare, frame) for frame in frames]
        results = [predictor.predict(future.result()) for future in prepared]
    assert all({key[0] for key in future.result().sample.derived} == {'observed_free', 'columns'} for future in prepared)
    assert sum(len(r.occupied_indices) for r in plain) > 0
    for expected, result in zip(plain, results):
        assert np.array_equal(expected.labels, result.labels)
        assert np.array_equal(expected.occupancy, result.occupancy)
        assert result.timestamp_ns == expected.timestamp_ns
