"""How far a checkpoint's voxel features agree with the 2D teacher where cameras see them (issue 28,
pixel-feature distillation): on cached samples with teacher probabilities (`loc-train --pixel-teacher`),
every labelled occupied voxel a camera sees, with the teacher's named classes holding at least half
the probability there, gives (1) the pixel-distillation term (1 - cosine of its feature to the
teacher's probabilities times the prompt embeddings, as `train.w_pixel_distill` trains it) and (2)
whether its best-matching prompt is the Occ3D class of the teacher's most probable class.

Usage: .venv/bin/python bench/pixel_teacher_agreement.py --checkpoint CK --cache out/cache_kitti07 [--json FILE]

No augmentation; each sample's labelled voxels drawn as training draws them at step 0 (seed 0)."""
import argparse
import json

import numpy as np
import torch

from loc_core.models.checkpoint import load_checkpoint
from loc_core.train.batch import build_batch
from loc_core.train.samples import SampleFolder
from loc_core.train.trainer import Trainer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--cache', required=True, help='folder of cached samples with teacher probabilities')
    parser.add_argument('--voxels', type=int, default=4096, help='labelled voxels drawn per sample')
    parser.add_argument('--json', help='write the figures here')
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_checkpoint(args.checkpoint).config
    config.train.w_pixel_distill = 1.0
    dataset = SampleFolder(args.cache)
    trainer = Trainer(config, dataset, '/nonexistent')
    trainer.initialise_from(args.checkpoint)
    trainer.model.eval()
    losses, agree, counted, skipped = [], 0, 0, 0
    for index in range(len(dataset)):
        sample = dataset[index]
        if sample.teacher_probs is None or len(sample.images) == 0:
            skipped += 1
            continue
        inputs, targets = build_batch([sample], [index], 0, 0, args.voxels, pixel_teacher=True)
        target = targets[0]
        with torch.no_grad():
            _, features, encoded = trainer.net(inputs, torch.zeros(len(target.voxels), dtype=torch.long),
                                               target.voxels)
            losses.append(float(trainer._pixel_distill(encoded.inputs[0], target, features.float())))
            probs, valid = trainer.pixel_teacher_at(encoded.inputs[0].rig, target)
            named = target.teacher_classes >= 0
            teacher_class = target.teacher_classes[probs.masked_fill(~named, -1.0).argmax(dim=1)]
            predicted = (torch.nn.functional.normalize(features.float(), dim=-1) @ trainer.text.T).argmax(dim=1)
            agree += int((predicted == teacher_class)[valid].sum())
            counted += int(valid.sum())
    result = {'checkpoint': args.checkpoint, 'cache': args.cache, 'samples': len(losses), 'skipped': skipped,
              'pixel_term_mean': float(np.mean(losses)) if losses else None, 'voxels_scored': counted,
              'teacher_class_agreement': agree / counted if counted else None}
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(result, handle, indent=1)


if __name__ == '__main__':
    main()
