"""A third party's app whose ``post_migrate`` receiver is connected where
many apps connect theirs: in its ``management`` package, which Django's
``migrate`` imports when it starts (not at start-up)."""
