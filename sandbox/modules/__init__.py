"""The modules: one folder per concept of the course, each with the same small interface.

A module package defines ``module = Module(__name__, __doc__, blueprint=..., ...)``;
the first line of its docstring is its title, the next paragraph its summary.
"""
