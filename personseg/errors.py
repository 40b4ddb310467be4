"""The one exception type for a user's mistake: the CLI prints it as a single line, no traceback."""


class UserError(Exception):
    """Bad input from the user (a file, flag or value); the message names it."""
