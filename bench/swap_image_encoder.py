"""A checkpoint with another camera encoder (`image_backbone`): every other tensor copied from the
given checkpoint, the encoder as `create_model` builds it (efficientnet_lite0: ImageNet weights, a
fresh 1x1 projection). For timing it with bench/bench_predict.py, and as the `--init` of a training.

Usage: .venv/bin/python bench/swap_image_encoder.py --checkpoint IN --out OUT [--image-backbone efficientnet_lite0]"""
import argparse

import torch

from loc_core.models.checkpoint import load_checkpoint, save_checkpoint
from loc_core.models.factory import create_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--image-backbone', default='efficientnet_lite0')
    args = parser.parse_args()
    torch.manual_seed(0)  # the new encoder's projection
    loaded = load_checkpoint(args.checkpoint)
    config = loaded.config
    config.model.overrides = {**config.model.overrides, 'image_backbone': args.image_backbone}
    model = create_model(config.model, loaded.model.grid, loaded.model.text_dim)
    own = model.state_dict()
    kept = {k: v for k, v in loaded.model.state_dict().items()
            if not k.startswith('image_encoder.') and k in own and own[k].shape == v.shape}
    missing = model.load_state_dict(kept, strict=False).missing_keys
    print(f'{len(kept)} tensors from {args.checkpoint}; {len(missing)} from the new encoder')
    save_checkpoint(args.out, model.eval(), config, loaded.step, loaded.text_identity)
    print('saved', args.out)


if __name__ == '__main__':
    main()
