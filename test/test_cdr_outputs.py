"""Numpy CDR writers decode, through rclpy's own deserialiser, into exactly the messages the object
path would build; the output builders carry the expected classes, colours and geometry."""
import json

import numpy as np
import pytest
from ros_test_utils import random_result, result_from_labels

from loc_core.data.vocabulary import OCC3D_COLORS, UNKNOWN_COLOR
from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.inference.result import FREE_LABEL, UNKNOWN_LABEL
from loc_ros import cdr, outputs

pytestmark = pytest.mark.ros

rclpy_serialization = pytest.importorskip('rclpy.serialization')
from geometry_msgs.msg import Point  # noqa: E402
from nav_msgs.msg import OccupancyGrid  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402
from std_msgs.msg import UInt8MultiArray  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

deserialize = rclpy_serialization.deserialize_message


def _object_marker(stamp, frame_id, ns, marker_id, action, points=(), rgba=(0, 0, 0, 0), scale=(1, 1, 1)):
    m = Marker()
    m.header.stamp.sec, m.header.stamp.nanosec = stamp
    m.header.frame_id = frame_id
    m.ns, m.id, m.type, m.action = ns, marker_id, Marker.CUBE_LIST, action
    m.pose.orientation.w = 1.0
    m.scale.x, m.scale.y, m.scale.z = scale
    m.color.r, m.color.g, m.color.b, m.color.a = rgba
    m.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in points]
    return m


def test_marker_array_bytes_equal_the_rclpy_object_message():
    centers = np.array([[1.0, 2.0, 3.0], [-4.2, 5.0, 6.5]])
    raw = cdr.cube_list_marker_array(1_500_000_001, 'base_link', [
        {'ns': 'car', 'id': 3, 'centers': centers, 'rgba': (1.0, 0.5, 0.0, 1.0), 'scale': (0.4, 0.4, 0.4)},
        {'ns': 'stroller', 'id': 4, 'centers': None}], delete_all_first=True)
    stamp = (1, 500_000_001)
    expected = MarkerArray(markers=[
        _object_marker(stamp, 'base_link', '', 0, Marker.DELETEALL),
        _object_marker(stamp, 'base_link', 'car', 3, Marker.ADD, centers, (1.0, 0.5, 0.0, 1.0), (0.4, 0.4, 0.4)),
        _object_marker(stamp, 'base_link', 'stroller', 4, Marker.DELETE)])
    assert deserialize(raw, MarkerArray) == expected
    assert len(raw) == len(rclpy_serialization.serialize_message(expected))


def test_point_cloud_and_multi_array_round_trip():
    records = np.zeros(3, dtype=outputs.VOXEL_CLOUD_DTYPE)
    records['x'] = [1, 2, 3]
    records['label'] = [0, 7, 254]
    msg = deserialize(cdr.point_cloud2(7, 'base_link', records), PointCloud2)
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 3, 24, 72)
    assert [(f.name, f.offset, f.datatype) for f in msg.fields] == [
        ('x', 0, 7), ('y', 4, 7), ('z', 8, 7), ('score', 12, 7), ('rgb', 16, 7), ('label', 20, 2)]
    assert np.array_equal(np.frombuffer(msg.data, dtype=outputs.VOXEL_CLOUD_DTYPE), records)

    grid = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    msg = deserialize(cdr.uint8_multi_array(grid, ('x', 'y', 'z')), UInt8MultiArray)
    assert [(d.label, d.size, d.stride) for d in msg.layout.dim] == [('x', 2, 24), ('y', 3, 12), ('z', 4, 4)]
    assert np.array_equal(np.frombuffer(msg.data, dtype=np.uint8).reshape(2, 3, 4), grid)
    with pytest.raises(ValueError):
        cdr.uint8_multi_array(grid, ('x', 'y'))


def test_markers_one_cube_list_per_class_in_class_colour():
    result = random_result(500, ('car', 'stroller', 'road'), (4, -1, 11), seed=1, timestamp_ns=3 * 10**9)
    msg = deserialize(outputs.marker_array(result, 'base_link', delete_all_first=True), MarkerArray)
    assert msg.markers[0].action == Marker.DELETEALL
    by_ns = {m.ns: m for m in msg.markers[1:]}
    assert set(by_ns) == {'car', 'stroller', 'road', 'unknown'}
    for label, ns in enumerate(('car', 'stroller', 'road')):
        assert len(by_ns[ns].points) == int((result.labels == label).sum())
        assert by_ns[ns].id == label and by_ns[ns].scale.x == pytest.approx(0.4)
    assert len(by_ns['unknown'].points) == int(result.unknown.sum())
    car_rgb = np.round(np.array([by_ns['car'].color.r, by_ns['car'].color.g, by_ns['car'].color.b]) * 255)
    assert np.array_equal(car_rgb, OCC3D_COLORS[4])
    unknown = by_ns['unknown'].color
    assert np.array_equal(np.round(np.array([unknown.r, unknown.g, unknown.b]) * 255), UNKNOWN_COLOR)
    # every cube centre lies on a voxel of its class
    idx = VoxelGrid().point_to_index(np.array([[p.x, p.y, p.z] for p in by_ns['road'].points]))
    assert (result.labels[tuple(idx.T)] == 2).all()
    assert msg.markers[1].header.stamp.sec == 3


def test_class_without_voxels_gets_a_delete():
    labels = np.full(VoxelGrid().shape, FREE_LABEL, dtype=np.uint8)
    labels[10, 10, 3] = 0
    result = result_from_labels(labels, ('car', 'bus'), (4, 3))
    msg = deserialize(outputs.marker_array(result, 'base_link', delete_all_first=False), MarkerArray)
    actions = {m.ns: m.action for m in msg.markers}
    assert actions == {'car': Marker.ADD, 'bus': Marker.DELETE, 'unknown': Marker.DELETE}


def test_voxel_cloud_labels_scores_and_packed_colours():
    result = random_result(300, ('car', 'vegetation'), (4, 16), seed=2)
    msg = deserialize(outputs.voxel_cloud(result, 'base_link'), PointCloud2)
    records = np.frombuffer(msg.data, dtype=outputs.VOXEL_CLOUD_DTYPE)
    assert len(records) == int(result.occupied.sum())
    idx = VoxelGrid().point_to_index(np.stack([records['x'], records['y'], records['z']], axis=1))
    assert np.array_equal(result.labels[tuple(idx.T)], records['label'])
    rgb = records['rgb'].view('<u4')
    veg = records['label'] == 1
    assert np.all(rgb[veg] == (0 << 16 | 175 << 8 | 0))
    assert np.allclose(records['score'], 0.5)


def test_grid_and_bev_geometry():
    labels = np.full(VoxelGrid().shape, FREE_LABEL, dtype=np.uint8)
    labels[0, 199, 0] = 1      # 'road' (ground) at x min, y max -> clear
    labels[150, 20, 5] = 0     # car -> obstacle
    labels[3, 4, 2] = UNKNOWN_LABEL
    result = result_from_labels(labels, ('car', 'road'), (4, 11), timestamp_ns=10**9 + 5)
    grid_msg = deserialize(outputs.semantic_grid(result), UInt8MultiArray)
    assert np.array_equal(np.frombuffer(grid_msg.data, dtype=np.uint8).reshape(200, 200, 16), labels)
    bev = deserialize(outputs.bev_grid(result, 'base_link'), OccupancyGrid)
    assert (bev.info.width, bev.info.height) == (200, 200)
    assert bev.info.resolution == pytest.approx(0.4)
    assert (bev.info.origin.position.x, bev.info.origin.position.y) == (-40.0, -40.0)
    cells = np.asarray(bev.data, dtype=np.int8).reshape(200, 200)  # row = y
    assert cells[20, 150] == 100 and cells[4, 3] == 100 and cells[199, 0] == 0
    assert int((cells == 100).sum()) == 2


def test_legend_lists_prompts_colours_and_grid_geometry():
    doc = json.loads(outputs.legend_json(('car', 'stroller'), (4, -1), VoxelGrid(), 'base_link'))
    assert [c['prompt'] for c in doc['classes']] == ['car', 'stroller']
    assert doc['classes'][0]['color_rgb'] == OCC3D_COLORS[4].tolist()
    assert doc['classes'][1]['occ3d_id'] == -1
    assert doc['classes'][1]['color_rgb'] != doc['classes'][0]['color_rgb']
    assert doc['unknown']['label'] == 254 and doc['free']['label'] == 255
    assert doc['grid']['shape'] == [200, 200, 16] and doc['grid']['voxel_size'] == pytest.approx(0.4)


def test_markers_hold_only_the_surface_voxels():
    """A solid 5x5x5 block: its 27 enclosed voxels are left out of the markers (nobody sees them),
    its 98 surface voxels stay; the cloud keeps all 125. A block touching the grid's edge keeps
    its voxels on that edge (outside the grid counts as free)."""
    labels = np.full(VoxelGrid().shape, FREE_LABEL, dtype=np.uint8)
    labels[10:15, 10:15, 5:10] = 0
    labels[0:3, 0:3, 0:3] = 1
    result = result_from_labels(labels, ('car', 'bus'), (4, 3))
    msg = deserialize(outputs.marker_array(result, 'base_link', delete_all_first=False), MarkerArray)
    by_ns = {m.ns: m for m in msg.markers}
    assert len(by_ns['car'].points) == 98 and len(by_ns['bus'].points) == 27 - 1
    centres = np.array([[p.x, p.y, p.z] for p in by_ns['car'].points])
    assert not any(np.allclose(c, VoxelGrid().index_to_center(np.array([[12, 12, 7]]))[0]) for c in centres)
    assert len(outputs.voxel_records(result)) == 125 + 27
