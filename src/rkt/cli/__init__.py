"""The ``rkt`` command line: the only place in ``rkt`` that prints for users or exits."""
