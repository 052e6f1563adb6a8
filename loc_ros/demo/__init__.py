"""`make demo`: the whole loop on an embedded default. A synthetic (or nuScenes) sequence becomes a
bag; `loc_node` runs the shipped checkpoint; the bag plays into it; half way the prompts change
through the parameter service; what the node publishes is recorded, scored and drawn."""
