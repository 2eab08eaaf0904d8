"""One schema change per migration, each broken by hand in one test.

``tests/test_reconcile_verify.py`` migrates up to one of these, changes the
live schema so that this migration's effect is missing or different, and
checks that faking it is refused with the difference named.
"""
