"""Evaluation: the official Occ3D mIoU, geometry IoU, open-set AUROC / FPR@95, prompt variants."""
