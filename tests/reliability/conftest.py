"""The reliability tests' own marker: ``bad_input(what)`` names one case of the bad-input
catalogue (tests/reliability/test_bad_inputs.py counts its collected cases by it)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "bad_input(what): one case of the bad-input catalogue, "
                                       "naming the bad input")
