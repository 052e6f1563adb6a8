"""The validation-town choice benches (bench/prompt_space.py): which variants they try and the rule
that picks one."""
from bench_modules import load_bench


def test_variants_add_only_templates_the_checkpoint_lacks():
    bench = load_bench('prompt_space')
    variants = bench.variants(('{}', '{} in a city'))
    assert len(variants) == 2 * (1 + len(bench.EXTRA_TEMPLATES))
    assert variants['checkpoint'] == (('{}', '{} in a city'), False)
    assert variants['city + projection'] == (('{}', '{} in a city'), True)  # not listed twice
    assert variants['street'][0] == ('{}', '{} in a city', 'a {} in a street scene', 'the {} next to the road')


def test_the_rule_prefers_new_words_but_guards_the_standard_prompts():
    bench = load_bench('prompt_space')
    rows = [{'variant': 'checkpoint', 'standard': 55.0, 'validation_words': 40.0},
            {'variant': 'costly', 'standard': 54.0, 'validation_words': 50.0},  # 1.0 below: not allowed
            {'variant': 'fair', 'standard': 54.6, 'validation_words': 45.0},
            {'variant': 'tie', 'standard': 55.2, 'validation_words': 45.0}]
    assert bench.choose(rows)['variant'] == 'fair'
    assert bench.choose(rows[:2])['variant'] == 'checkpoint'
