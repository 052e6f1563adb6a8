"""Several names per class in training: the names never include the evaluation's synonym or renamed
words, the per-step draw is deterministic and reaches every name, and a training step runs with it."""
import numpy as np
import pytest
import torch
from toy_world import toy_config, toy_frame

from loc_core.config import ConfigError, TrainConfig
from loc_core.data.class_names import TRAINING_NAMES
from loc_core.data.vocabulary import OCC3D_PROMPTS
from loc_core.evaluation.prompts import renamed_set, synonym_set, validation_word_set
from loc_core.text.factory import create_text_encoder
from loc_core.train.names import ClassNameBank
from loc_core.train.samples import TrainingSample
from loc_core.train.trainer import Trainer


def _forms(word: str) -> set:
    word = word.lower()
    return {word, word.rstrip('s'), word + 's'}


def test_training_names_leave_the_evaluation_words_unseen():
    evaluated = set(synonym_set()[0]) | set(renamed_set()[0])
    standard = set(OCC3D_PROMPTS)
    for names in TRAINING_NAMES:
        for name in names:
            if name in standard:
                continue
            clash = [w for w in evaluated if _forms(w) & _forms(name)]
            assert not clash, (name, clash)
    flat = [n.lower() for names in TRAINING_NAMES for n in names]
    assert len(flat) == len(set(flat)), 'a name serves two classes'
    assert sum(len(n) - 1 for n in TRAINING_NAMES) >= 35


def test_validation_words_are_neither_training_names_nor_evaluation_words():
    words = validation_word_set()[0]
    others = set(synonym_set()[0]) | set(renamed_set()[0]) | {n for names in TRAINING_NAMES for n in names}
    assert len(words) == len(OCC3D_PROMPTS) == len({w.lower() for w in words})
    for word in words:
        clash = [w for w in others if _forms(w) & _forms(word)]
        assert not clash, (word, clash)


def test_bank_draw_is_deterministic_and_reaches_every_name():
    encoder = create_text_encoder(toy_config().text)
    bank = ClassNameBank.create(encoder, ('{}', 'a {}'), standard_share=0.5, seed=3)
    assert [len(t) for t in bank.embeddings] == [2 * len(n) for n in TRAINING_NAMES]
    assert bank.choice(7) == bank.choice(7)
    seen = [set() for _ in TRAINING_NAMES]
    standard = 0
    for step in range(400):
        for c, row in enumerate(bank.choice(step)):
            seen[c].add(row)
            standard += row < 2
    assert all(len(s) == 2 * len(n) for s, n in zip(seen, TRAINING_NAMES))
    assert 0.4 < standard / (400 * len(TRAINING_NAMES)) < 0.6
    text = bank.text(5)
    assert text.shape == (len(TRAINING_NAMES), encoder.dim)
    assert torch.allclose(text.norm(dim=1), torch.ones(len(TRAINING_NAMES)), atol=1e-5)


def test_training_step_with_many_names(tmp_path):
    samples = [TrainingSample.from_frame(toy_frame(s), (64, 32)) for s in range(2)]
    trainer = Trainer(toy_config(class_names='many', batch_size=2), samples, tmp_path)
    history = trainer.run(2)
    assert all(np.isfinite(h['dcl']) and np.isfinite(h['align'] if 'align' in h else 0.0) for h in history)
    assert not torch.equal(trainer.names.text(0), trainer.names.text(1))


def test_class_names_setting_is_validated():
    with pytest.raises(ConfigError, match='class_names'):
        TrainConfig(class_names='all').validate()
    with pytest.raises(ConfigError, match='standard_name_share'):
        TrainConfig(standard_name_share=1.5).validate()
