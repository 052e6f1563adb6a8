"""LocConfig: round trips through dict, JSON and YAML; bad configs are clear errors."""
import pytest

from loc_core.config import ConfigError, LocConfig


def test_round_trip_json_and_yaml(tmp_path):
    config = LocConfig()
    config.inference.prompts = ('car', 'tree')
    config.inference.class_ids = (4, 16)
    config.train.steps = 7
    config.model.overrides = {'bev_channels': 8}
    for name in ('c.json', 'c.yaml'):
        config.save(tmp_path / name)
        assert LocConfig.load(tmp_path / name) == config
    assert LocConfig.from_dict(config.to_dict()) == config
    assert config.inference.resolved_class_ids() == (4, 16)
    assert LocConfig().inference.resolved_class_ids() == tuple(range(17))


@pytest.mark.parametrize('data, message', [
    ({'inference': {'prompts': []}}, 'prompts'),
    ({'inference': {'unknown_threshold': 2}}, 'unknown_threshold'),
    ({'inference': {'unknown_temperature': -0.1}}, 'unknown_temperature'),
    ({'inference': {'unknown_temperature': 0.1, 'unknown_threshold': 1.6}}, 'unknown_threshold'),
    ({'inference': {'unknown_norm_weight': -0.1}}, 'unknown_norm_weight'),
    ({'inference': {'unknown_norm_weight': 0.1, 'unknown_threshold': float('nan')}}, 'finite'),
    ({'inference': {'occupancy_threshold': 1.0}}, 'occupancy_threshold'),
    ({'inference': {'prompts': ['a', 'b'], 'class_ids': [1]}}, 'class_ids'),
    ({'text': {'encoder': 'word2vec'}}, 'text.encoder'),
    ({'text': {'templates': ['no placeholder']}}, 'templates'),
    ({'train': {'mode': 'magic'}}, 'train.mode'),
    ({'train': {'steps': 2.5}}, 'integer'),
    ({'train': {'lr': 'fast'}}, 'number'),
    ({'train': {'class_balance': 1}}, 'true/false'),
    ({'grid': {'voxel_size': 0.3}}, 'multiple'),
    ({'gird': {}}, 'unknown keys'),
    ({'train': {'stepz': 1}}, 'unknown keys'),
    ({'model': 'fusion'}, 'mapping'),
])
def test_invalid_configs_name_the_problem(data, message):
    with pytest.raises(ConfigError, match=message):
        LocConfig.from_dict(data)


def test_unreadable_files_are_config_errors(tmp_path):
    (tmp_path / 'bad.yaml').write_text('train: [unclosed')
    with pytest.raises(ConfigError, match='not valid'):
        LocConfig.load(tmp_path / 'bad.yaml')
    (tmp_path / 'list.json').write_text('[1, 2]')
    with pytest.raises(ConfigError, match='mapping'):
        LocConfig.load(tmp_path / 'list.json')
    with pytest.raises(ConfigError, match='cannot read'):
        LocConfig.load(tmp_path / 'missing.json')
    (tmp_path / 'danger.yaml').write_text('train: !!python/object/apply:os.system ["true"]')
    with pytest.raises(ConfigError):
        LocConfig.load(tmp_path / 'danger.yaml')


def test_a_norm_weight_unbounds_the_match_score():
    """With the feature-norm term a ln|W h| the score has no upper bound, so a threshold above 1 + T ln P
    is valid then (and only then)."""
    config = LocConfig.from_dict({'inference': {'unknown_temperature': 0.1, 'unknown_norm_weight': 0.15,
                                                'unknown_threshold': 1.6}})
    assert config.inference.highest_match_score() == float('inf')
    assert LocConfig().inference.highest_match_score() == 1.0
