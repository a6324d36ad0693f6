"""The one exception type the lab raises for problems a user can act on."""


class LabError(Exception):
    """A problem with a one-line explanation that says what to do next."""
