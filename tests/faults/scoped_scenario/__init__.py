"""The fault suite's plan-scoped scenario (tests/faults/test_scoped_faults.py).

``scenario_widget`` (big) and ``scenario_tag`` (a foreign key into
``scenario_gadget``) are outside the scope of the plan ``0001 -> 0003``,
which alters ``scenario_gadget`` only.
"""
