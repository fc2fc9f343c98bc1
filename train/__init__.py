"""``python -m train``: the command-line training entry (see ``python -m train --help``)."""
