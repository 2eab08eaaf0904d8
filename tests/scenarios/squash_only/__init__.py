"""A squashed migration whose replaced files were deleted, as squashing ends."""
