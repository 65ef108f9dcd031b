# The files here are learners' submissions graded by tests/test_grade.py, some deliberately
# broken: pytest must not import them (e.g. while collecting doctests).
collect_ignore_glob = ["*.py"]
