"""LOC's self-supervised dense-label stage: multi-frame LiDAR fusion, Poisson densification, KNN
semantics and visibility masks, producing Occ3D-format labels per keyframe (`loc-gt`)."""
