"""The validation towns that text-side and threshold choices are made on (seeds 90000-90011, used
nowhere else): command-line arguments and their frames, shared by the choice benches."""
from loc_core.data.frame_sources import parse_seeds, synthetic_frames
from loc_core.sim.config import SimConfig
from loc_core.sim.novel import SCENE_NOVEL_ASSETS


def add_arguments(parser) -> None:
    parser.add_argument('--checkpoint')
    parser.add_argument('--seeds', default='90000-90011')
    parser.add_argument('--frames-per-seed', type=int, default=2)
    parser.add_argument('--extra-novel', type=int, default=12, help='novel_extra_count of every town')


def frames(args):
    """Frames of the towns `args.seeds` x `args.frames_per_seed`, each with `args.extra_novel` extra
    novel objects of the five kinds training towns also hold (ids 20-24)."""
    towns = SimConfig(novel_extra_count=args.extra_novel, novel_objects=SCENE_NOVEL_ASSETS)
    return synthetic_frames(parse_seeds(args.seeds), args.frames_per_seed, config=towns)
