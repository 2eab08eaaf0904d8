"""Testing: the pytest plugin and the scratch databases it and the gates use."""
