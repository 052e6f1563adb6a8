"""Training losses: Densely Contrastive Learning, cross-entropy on similarity logits, pixel-feature
distillation / cosine feature regression, the partial-label loss for voxels known only to be
stuff, outlier exposure of the unknown score, and the geometry (occupancy) loss."""
from loc_core.losses.dcl import class_weights, dense_contrastive_loss, similarity_cross_entropy
from loc_core.losses.distill import cosine_regression_loss
from loc_core.losses.geometry import geometry_loss, occupied_class_weights
from loc_core.losses.outlier import outlier_loss
from loc_core.losses.partial import partial_label_loss

__all__ = ['class_weights', 'dense_contrastive_loss', 'similarity_cross_entropy', 'cosine_regression_loss',
           'geometry_loss', 'occupied_class_weights', 'outlier_loss', 'partial_label_loss']
