"""The one PointCloud2 layout check (loc_core.data.cloud_layout): a sender's numbers never make a
reader touch bytes outside the message, whichever of the node's or the bag readers' messages it gets."""
from types import SimpleNamespace

import numpy as np
import pytest

from loc_core.data.cloud_layout import CloudLayoutError, cloud_records


def _field(name, offset, datatype=7, count=1):
    return SimpleNamespace(name=name, offset=offset, datatype=datatype, count=count)


def _cloud(points=1000, fields=None, **changes):
    """A valid cloud of `points` 16-byte points, then `changes` to any attribute."""
    fields = fields or [_field(n, 4 * i) for i, n in enumerate(('x', 'y', 'z', 'intensity'))]
    values = np.arange(points * 4, dtype='<f4')
    cloud = dict(height=1, width=points, point_step=16, row_step=points * 16, is_bigendian=False,
                 fields=fields, data=values.tobytes())
    cloud.update(changes)
    return SimpleNamespace(**cloud)


def test_a_valid_cloud_reads_every_field_at_its_offset():
    records = cloud_records(_cloud(points=3))
    assert records.dtype.names == ('x', 'y', 'z', 'intensity') and len(records) == 3
    assert records['z'].tolist() == [2.0, 6.0, 10.0]


@pytest.mark.parametrize('fields, reason, text', [
    # the crash of issue 30: offset 2**31 - 1 overflowed numpy's int check and read out of bounds
    ([_field('x', 0), _field('y', 4), _field('z', 2**31 - 1)], 'bad_fields', "'z' .offset 2147483647"),
    ([_field('x', 0), _field('y', 4), _field('z', 2**32 - 4)], 'bad_fields', 'does not fit point_step 16'),
    ([_field('x', 0), _field('y', 4), _field('z', 12, datatype=8)], 'bad_fields', '1 x 8 bytes'),
    ([_field('x', 0), _field('y', 4), _field('z', 8), _field('t', 12, count=2**31)], 'bad_fields', "'t'"),
    ([_field('x', 0), _field('y', 4), _field('z', 8, datatype=9)], 'bad_fields', 'unknown datatype 9'),
    ([_field('x', 0), _field('y', 4), _field('x', 8)], 'bad_fields', 'appears twice'),
    ([_field('x', 0), _field('y', 4), _field('z', 8, count=2)], 'bad_fields', r"lacks .*\['z'\]")])
def test_fields_outside_the_point_are_refused_before_any_read(fields, reason, text):
    with pytest.raises(CloudLayoutError, match=text) as err:
        cloud_records(_cloud(fields=fields))
    assert err.value.reason == reason


@pytest.mark.parametrize('changes, reason', [
    (dict(point_step=0), 'size_mismatch'),
    (dict(width=0), 'empty_cloud'),
    (dict(height=2**32 - 1), 'size_mismatch'),          # height x row_step far beyond the data
    (dict(width=2**32 - 1), 'size_mismatch'),           # width x point_step beyond row_step
    (dict(row_step=8), 'size_mismatch'),
    (dict(data=b'\x00' * 15999), 'size_mismatch'),
    (dict(data=b'\x00' * 16001), 'size_mismatch')])
def test_steps_and_sizes_must_agree_with_the_data(changes, reason):
    with pytest.raises(CloudLayoutError) as err:
        cloud_records(_cloud(**changes))
    assert err.value.reason == reason


def test_padded_rows_and_numpy_data_as_rosbags_gives_it():
    rows = np.zeros((2, 40), np.uint8)
    rows[:, :32] = np.arange(16, dtype='<f4').view(np.uint8).reshape(2, 32)
    cloud = _cloud(width=2, row_step=40, height=2, data=rows.reshape(-1))
    assert cloud_records(cloud)['x'].tolist() == [0.0, 4.0, 8.0, 12.0]
