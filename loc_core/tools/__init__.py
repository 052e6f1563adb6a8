"""Small command-line tools around loc_core."""
